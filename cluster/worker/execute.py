"""Running one claimed job: the task, its timeout, its log file, and the outcome to report."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from cluster.queue import ClaimedJob, Outcome
from cluster.tasks import TaskContext, TaskRegistry
from cluster.worker.logfile import AttemptLog
from cluster.worker.threads import TaskThreads

MAX_RESULT_BYTES = 256 * 1024
T = TypeVar("T")


class AttemptTimedOut(Exception):
    """The attempt ran past its job's ``timeout_s``."""


def backoff_ms(attempt: int, base_s: float, cap_s: float) -> int:
    """Exponential backoff with full jitter over its upper half: base * 2^(attempt-1)."""
    ceiling = min(cap_s, base_s * (2 ** max(attempt - 1, 0)))
    return int(ceiling * (0.5 + random.random() / 2) * 1000)


class JobRunner:
    """Runs jobs for one worker: async tasks on the loop, plain ones in ``threads``."""

    def __init__(
        self,
        registry: TaskRegistry,
        log_dir: Path,
        worker_id: str,
        threads: TaskThreads,
        backoff: tuple[float, float],
        clock_ms: Any,
    ) -> None:
        self.registry = registry
        self.log_dir = log_dir
        self.worker_id = worker_id
        self.threads = threads
        self.backoff = backoff
        self.clock_ms = clock_ms

    async def run(self, job: ClaimedJob) -> tuple[Outcome, AttemptLog]:
        """Run one attempt; its log comes back sealed, for the caller to commit (write) before
        it records the outcome."""
        started = self.clock_ms()
        log = AttemptLog(self.log_dir, job.id, job.attempt, self.worker_id)
        outcome, value = await self._attempt(job, log)
        log.seal(outcome, None if outcome == "succeeded" else value)
        return self.outcome(job, outcome, value, started), log

    def outcome(self, job: ClaimedJob, outcome: str, value: str, started: int) -> Outcome:
        """The report of one attempt; a failed one carries the time its retry is due."""
        finished = self.clock_ms()
        retry_at = 0
        if outcome != "succeeded":
            retry_at = finished + backoff_ms(job.attempt, *self.backoff)
        return Outcome(job, outcome, value, started, finished, retry_at)

    def failure(self, job: ClaimedJob, error: str, started: int) -> Outcome:
        """An attempt the worker itself could not carry out."""
        return self.outcome(job, "failed", f"worker {self.worker_id}: {error}", started)

    async def _attempt(self, job: ClaimedJob, log: AttemptLog) -> tuple[str, str]:
        """Run the task; returns (outcome, result JSON or error text)."""
        try:
            return "succeeded", _encode_result(await self._call(job, log))
        except AttemptTimedOut:
            return "timeout", f"timed out after {job.timeout_s:g} s"
        except asyncio.CancelledError:
            log.end("released", "worker stopped before the attempt finished")
            raise
        except Exception as exc:  # a task's failure is data, not a worker crash
            return "failed", _describe(exc)

    async def _call(self, job: ClaimedJob, log: AttemptLog) -> Any:
        task = self.registry.get(job.type)
        if task is None:
            raise LookupError(f"unknown task type {job.type!r} on worker {self.worker_id}")
        ctx = TaskContext(job.id, job.attempt, orjson.loads(job.payload), log)
        if task.is_async:
            return await _within(job.timeout_s, task.function(ctx))
        return await _within(job.timeout_s, self.threads.run(task.function, ctx))


async def _within(seconds: float, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``, cancelling it after ``seconds`` (then :class:`AttemptTimedOut`).

    Like ``asyncio.timeout`` (one timer, ``uncancel`` to tell its cancel from a cancel that
    came from outside), without a context object per job: this runs once per attempt. A task's
    own ``TimeoutError`` passes through as the task's failure."""
    current = asyncio.current_task()
    assert current is not None
    fired = False

    def expire() -> None:
        nonlocal fired
        fired = True
        current.cancel()

    handle = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        result = await awaitable
    except asyncio.CancelledError:
        if fired and current.uncancel() == 0:  # only our cancel: the deadline passed
            raise AttemptTimedOut from None
        raise
    finally:
        handle.cancel()
    if fired:  # the task swallowed the deadline's cancel and returned: take the cancel back
        current.uncancel()
    return result


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _encode_result(result: Any) -> str:
    try:
        encoded = orjson.dumps(result)
    except TypeError as exc:
        raise TypeError(f"task result is not JSON-serialisable: {exc}") from exc
    if len(encoded) > MAX_RESULT_BYTES:
        raise ValueError(f"task result is {len(encoded)} bytes, over {MAX_RESULT_BYTES}")
    return encoded.decode()
