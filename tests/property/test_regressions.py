"""Minimal examples of the bugs the property suite found, kept as plain regression tests.

Each test names the property that found it and the shrunk example it reported.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from cluster.models import JobSpec
from cluster.queue import JobQueue, Outcome

NOW = 1_700_000_000_000


def with_queue(redis_url: str, scenario: Callable[[JobQueue], Awaitable[None]]) -> None:
    """Run ``scenario`` against a fresh queue (own key prefix) with the clock stopped at NOW."""

    async def main() -> None:
        redis = Redis.from_url(redis_url, decode_responses=True)
        try:
            prefix = f"reg-{os.urandom(4).hex()}"
            await scenario(JobQueue(redis, prefix=prefix, clock=lambda: NOW))
        finally:
            await redis.aclose()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("timeout_s", "stored_s"),
    [
        (9.664072242286976e-175, 0.001),  # was stored as 0 ms: every attempt timed out at once
        (5e-324, 0.001),
        (1.296875, 1.297),  # was truncated to 1.296
        (1.001, 1.001),  # 1.001 * 1000 == 1000.9999999999999: was truncated to 1.0
    ],
)
def test_timeout_is_stored_to_the_nearest_millisecond_and_never_as_zero(
    redis_url: str, timeout_s: float, stored_s: float
) -> None:
    """test_queue_machine: submit(timeout_s=9.66e-175) then claim gave timeout_s == 0.0."""

    async def scenario(queue: JobQueue) -> None:
        await queue.submit([JobSpec(type="echo", timeout_s=timeout_s)])
        [job] = await queue.claim("w0#0", ["default"], 1, 1)
        assert job.timeout_s == stored_s

    with_queue(redis_url, scenario)


def test_delay_is_rounded_to_the_nearest_millisecond(redis_url: str) -> None:
    """1.001 s * 1000 == 1000.9999999999999: the job was due a millisecond early."""

    async def scenario(queue: JobQueue) -> None:
        [submitted] = await queue.submit([JobSpec(type="echo", delay_s=1.001)])
        assert submitted.status == "scheduled"
        run_at = await queue.redis.hget(queue.keys.job(submitted.id), "run_at")
        assert int(run_at or 0) == NOW + 1001

    with_queue(redis_url, scenario)


def test_an_error_text_with_a_lone_surrogate_is_recorded(redis_url: str) -> None:
    """test_queue_machine: finish(outcome='failed', error='\\ud800') raised TypeError (orjson:
    "surrogates not allowed") from Outcome.attempt_tail, so the attempt could never be reported;
    the worker's flush loop died on it and every later outcome of that worker was lost."""

    async def scenario(queue: JobQueue) -> None:
        await queue.submit([JobSpec(type="echo", max_attempts=1)])
        [job] = await queue.claim("w0#0", ["default"], 1, 1)
        error = "OSError: no file b'\udcff.txt' \ud800"
        states = await queue.finish("w0#0", [Outcome(job, "failed", error, NOW - 1, NOW)])
        assert states == {job.id: "failed"}
        record = await queue.get(job.id)
        assert record is not None
        shown = "OSError: no file b'\\udcff.txt' \\ud800"
        assert record.error == shown
        assert [(a.outcome, a.error) for a in record.history] == [("failed", shown)]

    with_queue(redis_url, scenario)


def test_a_stale_report_with_a_lone_surrogate_is_marked_stale(redis_url: str) -> None:
    """The same text on the fenced path: the late attempt's record must still be written."""

    async def scenario(queue: JobQueue) -> None:
        await queue.submit([JobSpec(type="echo")])
        [job] = await queue.claim("w0#0", ["default"], 1, 1)
        await queue.release("w0#0", [job])
        states = await queue.finish("w0#0", [Outcome(job, "timeout", "\udcff", NOW, NOW)])
        assert states == {job.id: "stale"}
        raw = await queue.redis.hget(queue.keys.job(job.id), "att:1")
        assert orjson.loads(raw or "{}")["outcome"] == "stale_timeout"

    with_queue(redis_url, scenario)


def test_maintenance_forgets_expired_jobs_behind_an_older_waiting_one(redis_url: str) -> None:
    """test_queue_machine (forget): first_jobs(two jobs in 'default'), cancel(the second),
    then a record lifetime later: the cancelled job's record had expired, yet it stayed in
    idx:all and idx:cancelled for good, because maintain.lua stopped its sweep at the first
    record still there: the older job, still queued (a long delay, a queue nobody serves)."""

    async def scenario(queue: JobQueue) -> None:
        first, second = await queue.submit([JobSpec(type="echo"), JobSpec(type="echo")])
        assert await queue.cancel(second.id) == (True, "cancelled")
        await queue.redis.delete(queue.keys.job(second.id))  # its lifetime is over
        await queue.maintain("default")
        for index in (queue.keys.index_all, queue.keys.index("cancelled")):
            assert await queue.redis.zscore(index, second.id) is None, index
        assert await queue.redis.zscore(queue.keys.index_all, first.id) is not None

    with_queue(redis_url, scenario)


def test_attempt_log_takes_text_with_a_lone_surrogate(tmp_path: Path) -> None:
    from cluster.worker.logfile import AttemptLog

    log = AttemptLog(tmp_path, "a" * 32, 1, "w0")
    log.write("log", msg="listing b'\udcff.txt'")
    log.end("failed", "OSError: \udcff")
    from cluster.worker.logfile import read_job_logs

    [attempt] = read_job_logs(tmp_path, "a" * 32)
    assert attempt["complete"] is True
    assert attempt["lines"][1]["msg"] == "listing b'\\udcff.txt'"  # escaped, still visible
    assert attempt["lines"][-1]["error"] == "OSError: \\udcff"
