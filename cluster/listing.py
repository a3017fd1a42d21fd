"""Read-only views of the queues for the master's API, status page and metrics: counts per
queue and pages of job records. Nothing here changes a job; the protocol is ``cluster.queue``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cluster.models import JobRecord

if TYPE_CHECKING:
    from cluster.queue import JobQueue


@dataclass(frozen=True)
class QueueStats:
    name: str
    queued: int
    running: int
    scheduled: int
    failed: int


async def queue_stats(queue: JobQueue, names: Iterable[str]) -> list[QueueStats]:
    """Depth, in flight, scheduled and dead-lettered counts per queue (one round trip)."""
    known: set[str] = await queue.redis.smembers(queue.keys.queues)  # type: ignore[assignment]
    names = sorted(set(names) | known)
    async with queue.redis.pipeline(transaction=False) as pipe:
        for name in names:
            q = queue.keys.queue(name)
            for key in (q.ready, q.leases, q.scheduled, q.dead):
                pipe.zcard(key)
        counts = await pipe.execute()
    return [QueueStats(name, *counts[i * 4 : i * 4 + 4]) for i, name in enumerate(names)]


async def list_jobs(
    queue: JobQueue, status: str | None, limit: int, cursor: int | None
) -> tuple[list[JobRecord], int | None]:
    """Jobs newest first, optionally of one status; returns the page and the next cursor.

    Finished and scheduled jobs (and all jobs) are read from their index; queued and running
    jobs from the queues' own ready and lease sets, which the hot path keeps anyway."""
    index = None
    if status == "queued":
        rows = await _newest_queued(queue, limit, cursor)
    elif status == "running":
        rows = await _newest_running(queue, limit, cursor)
    else:
        index = queue.keys.index(status) if status else queue.keys.index_all
        rows = await _newest_indexed(queue, index, limit, cursor)
    records = await queue.get_many([job_id for job_id, _ in rows])
    gone = [job_id for (job_id, _), r in zip(rows, records, strict=True) if r is None]
    if gone and index:  # records expired after their result TTL: drop them from the index
        await queue.redis.zrem(index, *gone)
    next_cursor = rows[-1][1] if len(rows) == limit else None
    return [r for r in records if r is not None], next_cursor


async def _newest_indexed(
    queue: JobQueue, index: str, limit: int, cursor: int | None
) -> list[tuple[str, int]]:
    high = f"({cursor}" if cursor is not None else "+inf"
    rows: list[tuple[str, float]] = await queue.redis.zrevrangebyscore(  # type: ignore[assignment]
        index, high, "-inf", start=0, num=limit, withscores=True
    )
    return [(job_id, int(score)) for job_id, score in rows]


async def _newest_queued(queue: JobQueue, limit: int, cursor: int | None) -> list[tuple[str, int]]:
    """Merge of every queue's newest ready jobs (one script call per queue)."""
    found: list[tuple[str, int]] = []
    for name in await _queue_names(queue):
        raw = await queue.scripts.list_queued(
            keys=[queue.keys.queue(name).ready], args=[-1 if cursor is None else cursor, limit]
        )
        found += [(str(raw[i]), int(raw[i + 1])) for i in range(0, len(raw), 2)]
    return sorted(found, key=lambda row: row[1], reverse=True)[:limit]


async def _newest_running(queue: JobQueue, limit: int, cursor: int | None) -> list[tuple[str, int]]:
    """Every lease (there are at most as many as the fleet's concurrency), newest first."""
    names = await _queue_names(queue)
    async with queue.redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.zrange(queue.keys.queue(name).leases, 0, -1)
        leased: list[str] = [job_id for ids in await pipe.execute() for job_id in ids]
    async with queue.redis.pipeline(transaction=False) as pipe:
        for job_id in leased:
            pipe.hget(queue.keys.job(job_id), "seq")
        seqs = await pipe.execute()
    rows = [(job_id, int(seq)) for job_id, seq in zip(leased, seqs, strict=True) if seq]
    rows = [row for row in rows if cursor is None or row[1] < cursor]
    return sorted(rows, key=lambda row: row[1], reverse=True)[:limit]


async def _queue_names(queue: JobQueue) -> list[str]:
    names: set[str] = await queue.redis.smembers(queue.keys.queues)  # type: ignore[assignment]
    return sorted(names)
