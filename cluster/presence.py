"""Who is alive and what they can run: worker heartbeats and the task types they announce.

Workers call :func:`announce` every heartbeat; the master reads :func:`live_workers` and
:func:`known_task_types`. Keys come from :mod:`cluster.keys`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from cluster.keys import Keys


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    heartbeat_age_s: float
    info: dict[str, Any]


async def announce(
    redis: Redis,
    keys: Keys,
    worker_id: str,
    now_ms: int,
    info: dict[str, Any],
    task_types: Sequence[str],
    ttl_s: int,
) -> None:
    """One heartbeat: presence, self-description and task types, in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(keys.workers, {worker_id: now_ms})
        pipe.set(keys.worker(worker_id), orjson.dumps(info), ex=ttl_s)
        if task_types:
            pipe.hset(keys.tasks, mapping=dict.fromkeys(task_types, now_ms))
        await pipe.execute()


async def retire(redis: Redis, keys: Keys, worker_id: str) -> None:
    """A worker leaving cleanly removes its presence at once."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrem(keys.workers, worker_id)
        pipe.delete(keys.worker(worker_id))
        await pipe.execute()


async def live_workers(redis: Redis, keys: Keys, now_ms: int, max_age_s: float) -> list[WorkerInfo]:
    """Workers seen within ``max_age_s``; older entries are pruned."""
    cutoff = now_ms - int(max_age_s * 1000)
    await redis.zremrangebyscore(keys.workers, "-inf", cutoff)
    entries: list[tuple[str, float]] = await redis.zrange(  # type: ignore[assignment]
        keys.workers, 0, -1, withscores=True
    )
    if not entries:
        return []
    raw = await redis.mget([keys.worker(w) for w, _ in entries])
    return [
        WorkerInfo(w, round((now_ms - seen) / 1000, 3), orjson.loads(r) if r else {})
        for (w, seen), r in zip(entries, raw, strict=True)
    ]


async def known_task_types(redis: Redis, keys: Keys) -> set[str]:
    """Every task type any worker has announced."""
    names: list[str] = await redis.hkeys(keys.tasks)  # type: ignore[assignment]
    return set(names)
