"""The queue protocol: every Redis operation jobfleet performs, as named async functions.

The master and the workers call these and nothing else touches Redis' job keys. Key names come
from :mod:`cluster.keys` (which documents the layout and the job state machine); each transition
is one Lua script from :mod:`cluster.scripts`. Time is read through ``clock`` (milliseconds),
so tests can drive it.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis

from cluster.keys import Keys
from cluster.listing import QueueStats, list_jobs, queue_stats
from cluster.models import JobRecord, JobSpec
from cluster.scripts import Scripts

# the read-side views live in cluster.listing; importers know them from here
__all__ = ["ClaimedJob", "JobQueue", "Maintenance", "Outcome", "QueueStats", "Submitted"]
__all__ += ["list_jobs", "new_job_id", "queue_stats", "wall_clock_ms"]

T = TypeVar("T")
Arg = str | int | float | bytes
SIGNAL_CAP = 16
MAINTAIN_LIMIT = 500


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def new_job_id() -> str:
    return os.urandom(16).hex()


@dataclass(frozen=True)
class Submitted:
    id: str
    created: bool
    status: str


@dataclass(frozen=True)
class ClaimedJob:
    """A job in a worker's hands, with the attempt number that fences its completion."""

    id: str
    queue: str
    attempt: int
    type: str
    payload: str
    timeout_s: float


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended, as a worker reports it."""

    job: ClaimedJob
    outcome: str  # succeeded | failed | timeout
    value: str  # result JSON when succeeded, else the error text
    started_ms: int
    finished_ms: int
    retry_at_ms: int = 0

    def attempt_tail(self, worker: str) -> str:
        """The attempt record as JSON, without its opening brace (finish.lua adds the outcome)."""
        record: dict[str, object] = {
            "attempt": self.job.attempt,
            "worker": worker,
            "started_at": self.started_ms,
            "finished_at": self.finished_ms,
            "duration_s": round((self.finished_ms - self.started_ms) / 1000, 3),
        }
        if self.outcome != "succeeded":
            record["error"] = self.text[:2000]
        return orjson.dumps(record).decode()[1:]

    @property
    def text(self) -> str:
        """``value`` as valid UTF-8: an error message may hold lone surrogates (bytes decoded
        with ``surrogateescape``: file names, subprocess output), which neither JSON nor Redis
        can carry; they are kept visible as ``\\udcff``-style escapes."""
        return self.value.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class Maintenance:
    promoted: int
    reclaimed: int
    failed: int
    ids: list[str]


class JobQueue:
    """The protocol bound to one Redis connection pool."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "jf",
        result_ttl_s: int = 7 * 86_400,
        idempotency_ttl_s: int = 86_400,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.scripts = Scripts.register(redis)
        self.result_ttl_s = result_ttl_s
        self.idempotency_ttl_s = idempotency_ttl_s
        self.clock = clock

    # --- submission ------------------------------------------------------------------------
    async def submit(
        self,
        specs: Sequence[JobSpec],
        idempotency_keys: Sequence[str | None] | None = None,
        *,
        default_max_attempts: int = 3,
        default_timeout_s: float = 300.0,
        now: int | None = None,
    ) -> list[Submitted]:
        """Create jobs (one script call per queue). Results are in the order of ``specs``.
        ``now`` (ms, default the clock) is the submission time stored as ``created_at``."""
        idem = list(idempotency_keys or [None] * len(specs))
        now = self.clock() if now is None else now
        by_queue: dict[str, list[int]] = defaultdict(list)
        for index, spec in enumerate(specs):
            by_queue[spec.queue].append(index)
        results: list[Submitted | None] = [None] * len(specs)
        for queue, indexes in by_queue.items():
            batch: list[object] = []
            for index in indexes:
                spec = specs[index]
                batch += [
                    new_job_id(),
                    spec.type,
                    orjson.dumps(spec.payload).decode(),
                    spec.max_attempts or default_max_attempts,
                    _ms(spec.timeout_s or default_timeout_s, least=1),
                    spec.priority,
                    now + _ms(spec.delay_s),
                    idem[index] or "",
                ]
            q = self.keys.queue(queue)
            keys = [
                q.ready,
                q.scheduled,
                q.signal,
                self.keys.seq,
                self.keys.queues,
                self.keys.index_all,
                self.keys.index("scheduled"),
            ]
            args: list[Arg] = [
                now,
                queue,
                self.idempotency_ttl_s,
                SIGNAL_CAP,
                self.keys.job_prefix,
                self.keys.idempotency(""),
                orjson.dumps(batch),
            ]
            raw = _json_list(await self.scripts.submit(keys=keys, args=args))
            for position, index in enumerate(indexes):
                job_id, created, status = raw[position * 3 : position * 3 + 3]
                results[index] = Submitted(str(job_id), bool(created), str(status))
        return [r for r in results if r is not None]

    # --- the worker's side -----------------------------------------------------------------
    async def claim(
        self, worker: str, queues: Sequence[str], count: int, lease_ms: int
    ) -> list[ClaimedJob]:
        """Take up to ``count`` ready jobs, trying the queues in order."""
        claimed: list[ClaimedJob] = []
        for queue in queues:
            if len(claimed) >= count:
                break
            q = self.keys.queue(queue)
            raw = _json_list(
                await self.scripts.claim(
                    keys=[q.ready, q.leases, q.signal],
                    args=[
                        self.clock(),
                        worker,
                        lease_ms,
                        count - len(claimed),
                        self.keys.job_prefix,
                        SIGNAL_CAP,
                    ],
                )
            )
            claimed += [
                ClaimedJob(raw[i], queue, raw[i + 1], raw[i + 2], raw[i + 3], raw[i + 4] / 1000)
                for i in range(0, len(raw), 5)
            ]
        return claimed

    async def finish(self, worker: str, outcomes: Sequence[Outcome]) -> dict[str, str]:
        """Record finished attempts; returns job id -> resulting state (``stale`` if fenced)."""
        states: dict[str, str] = {}
        for queue, group in _group(outcomes, lambda o: o.job.queue).items():
            q = self.keys.queue(queue)
            batch: list[object] = []
            for o in group:
                batch += [
                    o.job.id,
                    o.job.attempt,
                    o.outcome,
                    o.text,
                    o.retry_at_ms,
                    o.attempt_tail(worker),
                ]
            keys = [
                q.leases,
                q.scheduled,
                q.dead,
                self.keys.index("succeeded"),
                self.keys.index("scheduled"),
                self.keys.index("failed"),
            ]
            args: list[Arg] = [
                self.clock(),
                worker,
                self.result_ttl_s,
                self.keys.job_prefix,
                orjson.dumps(batch),
            ]
            raw = _json_list(await self.scripts.finish(keys=keys, args=args))
            states.update(zip((o.job.id for o in group), map(str, raw), strict=True))
        return states

    async def renew(self, worker: str, jobs: Iterable[ClaimedJob], lease_ms: int) -> list[str]:
        """Extend the leases on ``jobs``; returns the ids this worker no longer holds."""
        lost: list[str] = []
        for queue, group in _group(jobs, lambda j: j.queue).items():
            held = orjson.dumps([x for j in group for x in (j.id, j.attempt)])
            args: list[Arg] = [self.clock(), worker, lease_ms, self.keys.job_prefix, held]
            raw = await self.scripts.renew(keys=[self.keys.queue(queue).leases], args=args)
            lost += [str(x) for x in _json_list(raw)]
        return lost

    async def release(self, worker: str, jobs: Iterable[ClaimedJob]) -> list[str]:
        """Hand jobs back unfinished (graceful drain); returns the ids handed back."""
        back: list[str] = []
        for queue, group in _group(jobs, lambda j: j.queue).items():
            q = self.keys.queue(queue)
            handed = orjson.dumps([x for j in group for x in (j.id, j.attempt)])
            args: list[Arg] = [self.clock(), worker, SIGNAL_CAP, self.keys.job_prefix, handed]
            raw = await self.scripts.release(keys=[q.leases, q.ready, q.signal], args=args)
            back += [str(x) for x in _json_list(raw)]
        return back

    async def maintain(self, queue: str, limit: int = MAINTAIN_LIMIT) -> Maintenance:
        """Promote due scheduled jobs and reclaim lapsed leases of one queue; forget dead
        letters and index entries whose records have expired."""
        q = self.keys.queue(queue)
        keys = [
            q.ready,
            q.scheduled,
            q.leases,
            q.dead,
            q.signal,
            self.keys.index("scheduled"),
            self.keys.index("failed"),
            self.keys.index_all,
            self.keys.index("succeeded"),
            self.keys.index("cancelled"),
        ]
        raw = await self.scripts.maintain(
            keys=keys,
            args=[self.clock(), limit, self.keys.job_prefix, self.result_ttl_s, SIGNAL_CAP],
        )
        return Maintenance(int(raw[0]), int(raw[1]), int(raw[2]), [str(x) for x in raw[3:]])

    async def wait_for_work(self, redis: Redis, queues: Sequence[str], timeout_s: float) -> bool:
        """Block (on ``redis``, a connection of its own) until a wake-up token or the timeout."""
        signals = [self.keys.queue(q).signal for q in queues]
        return await redis.blpop(signals, timeout=timeout_s) is not None

    # --- operator actions ------------------------------------------------------------------
    async def cancel(self, job_id: str) -> tuple[bool, str]:
        """Cancel a job that has not started. Returns (cancelled, status now)."""
        queue: str | None = await self.redis.hget(self.keys.job(job_id), "queue")  # type: ignore[assignment]
        if queue is None:
            return False, ""
        q = self.keys.queue(queue)
        ok, status = await self.scripts.cancel(
            keys=[
                self.keys.job(job_id),
                q.ready,
                q.scheduled,
                self.keys.index("scheduled"),
                self.keys.index("cancelled"),
            ],
            args=[job_id, self.clock(), self.result_ttl_s],
        )
        return bool(int(ok)), str(status)

    async def retry(self, job_id: str) -> tuple[bool, str]:
        """Re-queue a failed or cancelled job. Returns (re-queued, status now)."""
        queue: str | None = await self.redis.hget(self.keys.job(job_id), "queue")  # type: ignore[assignment]
        if queue is None:
            return False, ""
        q = self.keys.queue(queue)
        ok, status = await self.scripts.retry(
            keys=[
                self.keys.job(job_id),
                q.ready,
                q.dead,
                q.signal,
                self.keys.index("failed"),
                self.keys.index("cancelled"),
                self.keys.seq,
            ],
            args=[job_id, SIGNAL_CAP],
        )
        return bool(int(ok)), str(status)

    # --- reading ---------------------------------------------------------------------------
    async def get(self, job_id: str) -> JobRecord | None:
        fields: dict[str, str] = await self.redis.hgetall(self.keys.job(job_id))  # type: ignore[assignment]
        return JobRecord.from_hash(fields) if fields else None

    async def get_many(self, job_ids: Sequence[str]) -> list[JobRecord | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(self.keys.job(job_id))
            rows = await pipe.execute()
        return [JobRecord.from_hash(r) if r else None for r in rows]


def _ms(seconds: float, least: int = 0) -> int:
    """Seconds to whole milliseconds, rounded to the nearest (``int`` would truncate: 1.001 s
    is 1000.99... ms), and at least ``least`` (a positive timeout must not become 0 ms)."""
    return max(least, round(seconds * 1000))


def _json_list(raw: str | bytes) -> list[Any]:
    """A script's JSON array answer (Lua's cjson writes an empty array as ``{}``)."""
    value = orjson.loads(raw)
    return value if isinstance(value, list) else []


def _group(items: Iterable[T], key: Callable[[T], str]) -> dict[str, list[T]]:
    groups: dict[str, list[T]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups
