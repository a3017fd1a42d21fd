"""arq job functions and ``WorkerSettings`` for the benchmark's arq workers."""

from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar

from arq.connections import RedisSettings

from bench.peers import jobs

_OPTIONS = jobs.worker_options()


async def noop(ctx: dict[str, Any], sent: float) -> None:
    if jobs.records_to_file():
        jobs.noop(sent)
    else:
        await ctx["redis"].rpush(jobs.DONE_KEY, jobs.done_entry(sent))


async def sleeper(ctx: dict[str, Any], token: str, seconds: float) -> None:
    redis = ctx["redis"]
    await redis.rpush(jobs.STARTS_KEY, jobs.start_entry(token))
    await asyncio.sleep(seconds)
    await redis.rpush(jobs.SLEPT_KEY, token)


async def startup(ctx: dict[str, Any]) -> None:
    await ctx["redis"].rpush(jobs.READY_KEY, str(os.getpid()))


class WorkerSettings:
    functions: ClassVar[list[Any]] = [noop, sleeper]
    on_startup = startup
    redis_settings = RedisSettings.from_dsn(os.environ.get(jobs.ENV_REDIS_URL, "redis://127.0.0.1"))
    max_jobs = int(_OPTIONS.get("max_jobs", 100))
    poll_delay = float(_OPTIONS.get("poll_delay", 0.5))
    job_timeout = int(_OPTIONS.get("job_timeout", 300))
