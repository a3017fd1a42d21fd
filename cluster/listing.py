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
    """Jobs newest first, optionally of one status; returns the page and the next cursor."""
    index = queue.keys.index(status) if status else queue.keys.index_all
    high = f"({cursor}" if cursor is not None else "+inf"
    rows: list[tuple[str, float]] = await queue.redis.zrevrangebyscore(  # type: ignore[assignment]
        index, high, "-inf", start=0, num=limit, withscores=True
    )
    records = await queue.get_many([job_id for job_id, _ in rows])
    gone = [job_id for (job_id, _), r in zip(rows, records, strict=True) if r is None]
    if gone:  # records expired after their result TTL: drop them from the index lazily
        await queue.redis.zrem(index, *gone)
    next_cursor = int(rows[-1][1]) if len(rows) == limit else None
    return [r for r in records if r is not None], next_cursor
