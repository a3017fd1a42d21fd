"""Regression tests for gaps found in the queue protocol (``cluster/queue.py`` and its Lua)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from cluster.models import JobSpec
from cluster.queue import JobQueue, Outcome, queue_stats


def test_dead_letter_count_forgets_expired_records(redis_url: str, flush: None) -> None:
    asyncio.run(_dead_letter_ghosts(redis_url))


async def _dead_letter_ghosts(redis_url: str) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        queue = JobQueue(redis, prefix="ghost", result_ttl_s=1)
        (job,) = await queue.submit([JobSpec(type="echo", max_attempts=1)])
        (claimed,) = await queue.claim("w", ["default"], 1, 5_000)
        now = queue.clock()
        outcome = Outcome(claimed, "failed", "boom", now, now, now + 1)
        assert await queue.finish("w", [outcome]) == {job.id: "failed"}
        assert (await queue_stats(queue, ["default"]))[0].failed == 1
        async with asyncio.timeout(10):
            while await queue.get(job.id) is not None:
                await asyncio.sleep(0.1)
        await queue.maintain("default")  # every worker and the master run it 4 times a second
        assert (await queue_stats(queue, ["default"]))[0].failed == 0
        assert await redis.zcard(queue.keys.index_all) == 0  # index entries forgotten too
        assert await redis.zcard(queue.keys.index("failed")) == 0
    finally:
        await redis.aclose()
