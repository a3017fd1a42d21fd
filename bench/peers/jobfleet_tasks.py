"""jobfleet tasks for the benchmark's workers (``JOBFLEET_TASKS_MODULE``).

The no-op job comes in both kinds of jobfleet task. ``bench_noop_async`` (the default,
``jobfleet.task=async``) is a coroutine on the worker's event loop, like arq's jobs; it records
its start with the very ``jobs.noop`` every peer runs (a line written to the shared file), or
with an asyncio-client RPUSH under ``BENCH_RECORD=redis``. ``bench_noop``
(``jobfleet.task=sync``) is a plain function calling ``jobs.noop``, as Dramatiq, RQ and Celery
do; jobfleet runs it in its reusable task threads. The sleeper is async: it must not hold a
thread for its sleep.
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
def noop(ctx: TaskContext) -> None:
    jobs.noop(float(ctx.payload["sent"]))


@task("bench_noop_async")
async def noop_async(ctx: TaskContext) -> None:
    sent = float(ctx.payload["sent"])
    if jobs.records_to_file():
        jobs.noop(sent)
    else:
        await _redis().rpush(jobs.DONE_KEY, jobs.done_entry(sent))


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
