"""A plain-Python model of the queue protocol: what every transition must do, predicted exactly.

The state machine in ``test_queue_machine.py`` runs each operation against the real ``JobQueue``
and against this model, and demands the same answer; after every step it compares the model with
what Redis holds. Nothing here touches Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cluster.keys import TERMINAL

PRIORITY_BAND = 1 << 40
IN_FLIGHT = ("queued", "scheduled", "running")


@dataclass
class MJob:
    """What the model knows of one job."""

    id: str
    queue: str
    payload: Any
    priority: int
    max_attempts: int
    seq: int
    status: str
    run_at: int
    attempts: int = 0
    base: int = 0
    holder: tuple[str, int] | None = None  # (worker, attempt) while running
    lease_expires: int = 0
    outcomes: dict[int, str] = field(default_factory=dict)  # attempt -> outcome recorded
    error: str | None = None
    order: int = 0  # the sequence number in the ready score: seq, or a fresh one at a retry
    terminal_at: int = 0  # when it last became terminal: its record expires a TTL later
    gone: bool = False  # the record expired (only a terminal job's record has a TTL)
    dead_listed: bool = False  # a dead letter of its queue (failed, until forgotten)

    def __post_init__(self) -> None:
        self.order = self.order or self.seq

    @property
    def score(self) -> int:
        return (100 - self.priority) * PRIORITY_BAND + self.order

    @property
    def budget_left(self) -> int:
        return self.max_attempts - (self.attempts - self.base)


@dataclass(frozen=True)
class NewJob:
    """A submission as the model sees it (the machine draws these)."""

    queue: str
    payload: Any
    priority: int
    max_attempts: int
    delay_ms: int
    idem: str | None


@dataclass
class Model:
    now: int  # the clock (ms) every operation reads
    ttl_ms: int  # how long a terminal job's record lives
    jobs: dict[str, MJob] = field(default_factory=dict)
    idem: dict[str, str] = field(default_factory=dict)
    seq: int = 0

    def end(self, job: MJob, status: str) -> None:
        job.status, job.terminal_at, job.holder = status, self.now, None
        job.dead_listed = status == "failed"

    def expire(self) -> list[str]:
        """Terminal records whose lifetime is over (Redis deletes them): their ids."""
        due = [
            j
            for j in self.jobs.values()
            if j.status in TERMINAL and not j.gone and j.terminal_at + self.ttl_ms <= self.now
        ]
        for job in due:
            job.gone = True
        return [j.id for j in due]

    # --- submission ------------------------------------------------------------------------
    def submit_order(self, specs: list[NewJob]) -> list[int]:
        """The order the queue processes a batch in: grouped by queue, queues by first use."""
        queues = list(dict.fromkeys(s.queue for s in specs))
        return [i for q in queues for i, s in enumerate(specs) if s.queue == q]

    def submit_one(self, spec: NewJob, job_id: str, now: int) -> tuple[str, bool, str]:
        """Expected (id, created, status); ``job_id`` is the id the queue chose if created."""
        if spec.idem is not None and spec.idem in self.idem:
            return self.idem[spec.idem], False, ""
        if spec.idem is not None:
            self.idem[spec.idem] = job_id
        self.seq += 1
        run_at = now + spec.delay_ms
        status = "scheduled" if run_at > now else "queued"
        self.jobs[job_id] = MJob(
            job_id,
            spec.queue,
            spec.payload,
            spec.priority,
            spec.max_attempts,
            self.seq,
            status,
            run_at,
        )
        return job_id, True, status

    # --- the worker's side -----------------------------------------------------------------
    def claim(
        self, worker: str, queues: list[str], count: int, now: int, lease: int
    ) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for queue in queues:
            ready = sorted(
                (j for j in self.jobs.values() if j.queue == queue and j.status == "queued"),
                key=lambda j: j.score,
            )
            for job in ready[: count - len(out)]:
                job.attempts += 1
                job.status = "running"
                job.holder = (worker, job.attempts)
                job.lease_expires = now + lease
                job.outcomes[job.attempts] = "running"
                out.append((job.id, job.attempts))
        return out

    def holds(self, worker: str, job_id: str, attempt: int) -> bool:
        job = self.jobs.get(job_id)
        return job is not None and job.status == "running" and job.holder == (worker, attempt)

    def finish(
        self, worker: str, job_id: str, attempt: int, outcome: str, error: str, retry_at: int
    ) -> str:
        job = self.jobs.get(job_id)
        if job is None or job.gone:
            return "missing"
        if not self.holds(worker, job_id, attempt):
            if job.outcomes.get(attempt) in ("lease_expired", "released"):
                job.outcomes[attempt] = f"stale_{outcome}"
                return "stale"
            return "duplicate"
        job.outcomes[attempt] = outcome
        job.holder = None
        if outcome == "succeeded":
            self.end(job, "succeeded")
            job.error = None
        elif job.budget_left > 0:
            job.status, job.error, job.run_at = "scheduled", error, retry_at
        else:
            self.end(job, "failed")
            job.error = error
        return job.status

    def renew(self, worker: str, held: list[tuple[str, int]], now: int, lease: int) -> list[str]:
        lost = []
        for job_id, attempt in held:
            if self.holds(worker, job_id, attempt):
                self.jobs[job_id].lease_expires = now + lease
            else:
                lost.append(job_id)
        return lost

    def release(self, worker: str, held: list[tuple[str, int]]) -> list[str]:
        back = []
        for job_id, attempt in held:
            if self.holds(worker, job_id, attempt):
                job = self.jobs[job_id]
                job.outcomes[attempt] = "released"
                job.status, job.holder = "queued", None
                job.base += 1
                back.append(job_id)
        return back

    def maintain(self, queue: str, now: int) -> tuple[int, int, int, list[str]]:
        mine = [j for j in self.jobs.values() if j.queue == queue]
        promoted = 0
        for job in mine:
            if job.status == "scheduled" and job.run_at <= now:
                job.status = "queued"
                promoted += 1
        lapsed = sorted(
            (j for j in mine if j.status == "running" and j.lease_expires <= now),
            key=lambda j: (j.lease_expires, j.id),
        )
        reclaimed = failed = 0
        for job in lapsed:
            job.outcomes[job.attempts] = "lease_expired"
            job.holder, job.error = None, None  # the script writes its own explanation
            if job.budget_left > 0:
                job.status = "queued"
                reclaimed += 1
            else:
                self.end(job, "failed")
                failed += 1
        for job in mine:  # dead letters as old as a record's lifetime are forgotten
            if job.dead_listed and job.terminal_at <= now - self.ttl_ms:
                job.dead_listed = False
        return promoted, reclaimed, failed, [j.id for j in lapsed]

    # --- operator actions ------------------------------------------------------------------
    def cancel(self, job_id: str) -> tuple[bool, str]:
        job = self.jobs.get(job_id)
        if job is None or job.gone:
            return False, ""
        if job.status not in ("queued", "scheduled"):
            return False, job.status
        self.end(job, "cancelled")
        return True, "cancelled"

    def retry(self, job_id: str) -> tuple[bool, str]:
        job = self.jobs.get(job_id)
        if job is None or job.gone:
            return False, ""
        if job.status not in ("failed", "cancelled"):
            return False, job.status
        self.seq += 1
        job.order = self.seq
        job.status, job.base, job.dead_listed = "queued", job.attempts, False
        return True, "queued"

    # --- questions -------------------------------------------------------------------------
    def unfinished(self) -> list[MJob]:
        return [j for j in self.jobs.values() if j.status not in TERMINAL]
