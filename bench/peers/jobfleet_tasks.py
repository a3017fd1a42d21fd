"""jobfleet tasks for the benchmark's workers (``JOBFLEET_TASKS_MODULE``).

The tasks are coroutines (jobfleet runs ``async def`` tasks on the worker's event loop) and
record through one asyncio Redis client per process: the same single RPUSH per event as
every peer's job.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from redis.asyncio import Redis

from bench.peers import jobs
from cluster.tasks import TaskContext, task

_client: Redis | None = None


def _redis() -> Redis:
    global _client  # noqa: PLW0603
    if _client is None:
        _client = Redis.from_url(os.environ[jobs.ENV_REDIS_URL])
    return _client


@task("bench_noop")
async def noop(ctx: TaskContext) -> None:
    await _redis().rpush(jobs.DONE_KEY, jobs.done_entry(float(ctx.payload["sent"])))


@task("bench_sleeper")
async def sleeper(ctx: TaskContext) -> None:
    payload: dict[str, Any] = ctx.payload
    await _redis().rpush(jobs.STARTS_KEY, jobs.start_entry(str(payload["token"])))
    await asyncio.sleep(float(payload["seconds"]))
    await _redis().rpush(jobs.SLEPT_KEY, str(payload["token"]))


def _mark_ready() -> None:
    """The worker imports this module just before it starts claiming: announce the process."""
    if jobs.ENV_REDIS_URL in os.environ:
        jobs.mark_ready()


_mark_ready()
