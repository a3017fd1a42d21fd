"""Running one claimed job: the task, its timeout, its log file, and the outcome to report."""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import orjson

from cluster.queue import ClaimedJob, Outcome
from cluster.tasks import TaskContext, TaskRegistry
from cluster.worker.logfile import AttemptLog

MAX_RESULT_BYTES = 256 * 1024


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
        threads: Executor,
        backoff: tuple[float, float],
        clock_ms: Any,
    ) -> None:
        self.registry = registry
        self.log_dir = log_dir
        self.worker_id = worker_id
        self.threads = threads
        self.backoff = backoff
        self.clock_ms = clock_ms

    async def run(self, job: ClaimedJob) -> Outcome:
        started = self.clock_ms()
        log = AttemptLog(self.log_dir, job.id, job.attempt, self.worker_id)
        outcome, value = "failed", ""
        try:
            result = await self._call(job, log)
            value = _encode_result(result)
            outcome = "succeeded"
        except TimeoutError:
            outcome, value = "timeout", f"timed out after {job.timeout_s:g} s"
        except asyncio.CancelledError:
            log.end("released", "worker stopped before the attempt finished")
            raise
        except Exception as exc:  # a task's failure is data, not a worker crash
            value = f"{type(exc).__name__}: {exc}"
        log.end(outcome, None if outcome == "succeeded" else value)
        finished = self.clock_ms()
        retry_at = 0
        if outcome != "succeeded":
            retry_at = finished + backoff_ms(job.attempt, *self.backoff)
        return Outcome(job, outcome, value, started, finished, retry_at)

    async def _call(self, job: ClaimedJob, log: AttemptLog) -> Any:
        task = self.registry.get(job.type)
        if task is None:
            raise LookupError(f"unknown task type {job.type!r} on worker {self.worker_id}")
        ctx = TaskContext(job.id, job.attempt, orjson.loads(job.payload), log)
        async with asyncio.timeout(job.timeout_s):
            if task.is_async:
                return await task.function(ctx)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.threads, task.function, ctx)


def _encode_result(result: Any) -> str:
    try:
        encoded = orjson.dumps(result)
    except TypeError as exc:
        raise TypeError(f"task result is not JSON-serialisable: {exc}") from exc
    if len(encoded) > MAX_RESULT_BYTES:
        raise ValueError(f"task result is {len(encoded)} bytes, over {MAX_RESULT_BYTES}")
    return encoded.decode()
