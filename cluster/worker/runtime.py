"""The worker: claim, run, record, acknowledge; plus its heartbeat, lease and maintenance loops.

Life of a job in a worker: ``_claim_loop`` takes a batch under leases -> ``JobRunner.run``
writes the attempt's log and returns an :class:`Outcome` -> ``_flush_loop`` records outcomes in
batches (each atomically with its acknowledgement) -> the lease is dropped. While a job is held,
``_renew_loop`` extends its lease. SIGTERM: stop claiming, let running jobs finish within
``drain_s``, hand back the rest, flush, leave. SIGKILL: the leases lapse and others reclaim.

The background loops stop when ``closing`` is set, never by cancellation: on Python 3.11 a
cancel that lands while redis-py is sending a command can be swallowed (``asyncio.wait_for``,
gh-86296), and a loop that swallowed its cancel would keep the worker alive forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from cluster import metrics, presence
from cluster.connection import connect
from cluster.queue import ClaimedJob, JobQueue, Outcome
from cluster.settings import Settings
from cluster.tasks import TaskRegistry
from cluster.worker.execute import JobRunner
from cluster.worker.logfile import AttemptLog
from cluster.worker.threads import TaskThreads

log = logging.getLogger("jobfleet.worker")
RETRY_PAUSE_S = 0.5
HELPER_EXIT_S = 5.0  # how long the background loops get to finish their last round
R = TypeVar("R")


def make_worker_id(name: str | None) -> str:
    return f"{name or socket.gethostname()}-{os.getpid()}-{os.urandom(2).hex()}"


class Worker:
    def __init__(self, settings: Settings, registry: TaskRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.id = make_worker_id(settings.worker_name)
        self.redis: Redis = connect(settings)
        self.waiter: Redis = connect(settings)  # blocking reads get their own connection
        self.queue = JobQueue(
            self.redis, prefix=settings.key_prefix, result_ttl_s=settings.result_ttl_s
        )
        self.threads = TaskThreads()  # plain tasks run here (see TaskThreads)
        self.runner = JobRunner(
            registry,
            settings.log_dir,
            self.id,
            self.threads,
            (settings.backoff_base_s, settings.backoff_max_s),
            self.queue.clock,
        )
        # keyed by (job id, attempt): after a freeze, one worker may hold two attempts of a job
        self.held: dict[tuple[str, int], ClaimedJob] = {}  # every lease held, running or not
        self.running: dict[tuple[str, int], asyncio.Task[None]] = {}
        self.pending: list[Outcome] = []
        self.pending_logs: list[AttemptLog] = []  # sealed logs of the pending outcomes
        self.stopping = asyncio.Event()  # SIGTERM: claim nothing more, drain
        self.closing = asyncio.Event()  # drained: the background loops end
        self.slot_free = asyncio.Event()
        self.pending_ready = asyncio.Event()
        self.completed = 0
        self._claim_batch = max(1, settings.concurrency // 4)
        # jobs held at once, running or awaiting their record: bounded, so a slow Redis or disk
        # holds the worker back instead of piling outcomes up in memory
        self._max_held = 8 * settings.concurrency
        self.recording = 0  # outcomes in the finish call under way (no longer in held)

    # --- lifecycle -------------------------------------------------------------------------
    async def run(self) -> int:
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        await self._wait_for_redis()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        log.info(
            "worker started",
            extra={
                "worker": self.id,
                "queues": self.settings.queues,
                "concurrency": self.settings.concurrency,
            },
        )
        metrics.track_worker(lambda: len(self.running), self.settings.concurrency)
        helpers = [
            asyncio.create_task(c)
            for c in (
                self._heartbeat_loop(),
                self._renew_loop(),
                self._maintain_loop(),
                self._flush_loop(),
            )
        ]
        await self._claim_loop()
        await self._drain()
        await self._close_helpers(helpers)
        await self._retire()
        return 0

    def stop(self) -> None:
        if not self.stopping.is_set():
            log.info("stop requested: draining", extra={"worker": self.id})
            self.stopping.set()
            self.slot_free.set()

    async def _close_helpers(self, helpers: list[asyncio.Task[None]]) -> None:
        """End the background loops: ask, wait a bounded time, cancel whatever is left."""
        self.closing.set()
        self.pending_ready.set()
        _, left = await asyncio.wait(helpers, timeout=HELPER_EXIT_S)
        for helper in left:
            helper.cancel()
        if left:
            await asyncio.wait(left, timeout=HELPER_EXIT_S)

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` (less if the worker is closing); False once it is closing."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.closing.wait()
        return not self.closing.is_set()

    async def _wait_for_redis(self) -> None:
        while True:
            try:
                await self.queue.scripts.load(self.redis)
                return
            except (RedisError, OSError) as exc:
                log.warning("redis not reachable yet", extra={"error": str(exc)})
                await asyncio.sleep(RETRY_PAUSE_S)

    async def _drain(self) -> None:
        if self.running:
            log.info("waiting for running jobs", extra={"count": len(self.running)})
            await asyncio.wait(list(self.running.values()), timeout=self.settings.drain_s)
        unfinished = [self.held[key] for key in self.running]
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: a task may swallow its cancel (see top) and must not block us
            await asyncio.wait(tasks, timeout=HELPER_EXIT_S)
        await self._flush_all()
        if unfinished:
            back = await self._retrying(self.queue.release, self.id, unfinished)
            log.info("handed back unfinished jobs", extra={"jobs": back})

    async def _retire(self) -> None:
        with contextlib.suppress(RedisError, OSError):  # else the entry expires by itself
            await presence.retire(self.redis, self.queue.keys, self.id)
        await self.redis.aclose()
        await self.waiter.aclose()
        log.info("worker stopped", extra={"worker": self.id, "completed": self.completed})

    # --- claim and run ---------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        while not self.stopping.is_set():
            free = min(
                self.settings.concurrency - len(self.running),
                self._max_held - len(self.held) - self.recording,  # finished, not recorded
            )
            if free <= 0 or (self.running and free < self._claim_batch):
                # claim in batches: one round trip for many jobs when slots free up one by one
                self.slot_free.clear()
                await self.slot_free.wait()
                continue
            try:
                jobs = await metrics.timed(
                    "claim",
                    self.queue.claim(self.id, self.settings.queues, free, self.settings.lease_ms),
                )
                if not jobs:
                    await self._wait_for_work()
                    continue
            except (RedisError, OSError) as exc:
                log.warning("claim failed", extra={"error": str(exc)})
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            metrics.claimed(self.queue, self.id, jobs)
            for job in jobs:
                self.held[job.id, job.attempt] = job
                self.running[job.id, job.attempt] = asyncio.create_task(self._execute(job))

    async def _wait_for_work(self) -> None:
        waiting = asyncio.create_task(
            self.queue.wait_for_work(self.waiter, self.settings.queues, self.settings.maintenance_s)
        )
        stop = asyncio.create_task(self.stopping.wait())
        await asyncio.wait({waiting, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not waiting.done():
            waiting.cancel()
            waiting.add_done_callback(_consume)  # its cancel may be swallowed (see top)
            # a BLPOP cut short may have popped a token: drop the connection, never reuse it
            await self.waiter.connection_pool.disconnect()
        elif waiting.exception() is not None:
            raise waiting.exception()  # type: ignore[misc]

    async def _execute(self, job: ClaimedJob) -> None:
        started = self.queue.clock()
        try:
            outcome, attempt_log = await self.runner.run(job)
            self.pending_logs.append(attempt_log)
        except Exception as exc:  # never leave a job held (its lease renewed) forever
            log.exception("attempt crashed the runner", extra={"job": job.id})
            outcome = self.runner.failure(job, f"{type(exc).__name__}: {exc}", started)
        finally:
            del self.running[job.id, job.attempt]
            self.slot_free.set()
        self.pending.append(outcome)
        self.pending_ready.set()

    # --- recording outcomes ----------------------------------------------------------------
    async def _flush_loop(self) -> None:
        while not self.closing.is_set():
            await self.pending_ready.wait()
            await self._flush_all()
        await self._flush_all()

    async def _flush_all(self) -> None:
        while self.pending:
            self.pending_ready.clear()
            batch, self.pending = self.pending, []
            logs, self.pending_logs = self.pending_logs, []
            if logs:  # the logs are final before any outcome is recorded
                await asyncio.to_thread(_commit_logs, logs)
            for outcome in batch:  # from here on finish, not renew, decides the lease's fate
                self.held.pop((outcome.job.id, outcome.job.attempt), None)
            self.recording = len(batch)
            states = await self._retrying(self.queue.finish, self.id, batch)
            self.recording = 0
            self.slot_free.set()  # room to claim again (see _max_held)
            metrics.finished(self.id, batch, states)
            for outcome in batch:
                state = states.get(outcome.job.id)
                if state in ("stale", "missing"):
                    log.warning(
                        "attempt fenced off",
                        extra={
                            "job": outcome.job.id,
                            "attempt": outcome.job.attempt,
                            "state": state,
                        },
                    )
            self.completed += len(batch)

    async def _retrying(self, call: Callable[..., Awaitable[R]], *args: Any) -> R:
        """Redis calls that must not be dropped: retry until they succeed."""
        while True:
            try:
                return await call(*args)
            except (RedisError, OSError) as exc:
                log.warning("redis call failed, retrying", extra={"error": str(exc)})
                await asyncio.sleep(RETRY_PAUSE_S)

    # --- background duties -----------------------------------------------------------------
    async def _renew_loop(self) -> None:
        interval = self.settings.lease_s / 3
        while await self._pause(interval):
            if not self.held:
                continue
            try:
                lost = await self.queue.renew(
                    self.id, list(self.held.values()), self.settings.lease_ms
                )
            except (RedisError, OSError) as exc:
                log.warning("lease renewal failed", extra={"error": str(exc)})
                continue
            metrics.renewed(len(self.held), len(lost))
            for job_id in lost:
                log.warning("lease lost", extra={"job": job_id, "worker": self.id})

    async def _maintain_loop(self) -> None:
        while await self._pause(self.settings.maintenance_s):
            for queue in self.settings.queues:
                try:
                    result = await self.queue.maintain(queue)
                    metrics.maintained(queue, result)
                except (RedisError, OSError) as exc:
                    log.warning("maintenance failed", extra={"error": str(exc)})
                    break
                if result.reclaimed or result.failed:
                    log.info(
                        "reclaimed lapsed leases",
                        extra={
                            "queue": queue,
                            "reclaimed": result.reclaimed,
                            "failed": result.failed,
                            "jobs": result.ids,
                        },
                    )

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await metrics.timed(
                    "heartbeat",
                    presence.announce(
                        self.redis,
                        self.queue.keys,
                        self.id,
                        self.queue.clock(),
                        self._describe(),
                        self.registry.names(),
                        ttl_s=max(int(self.settings.heartbeat_s * 5), 5),
                    ),
                )
                self._touch_heartbeat_file()
            except (RedisError, OSError) as exc:
                log.warning("heartbeat failed", extra={"error": str(exc)})
            if not await self._pause(self.settings.heartbeat_s):
                return

    def _describe(self) -> dict[str, object]:
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "concurrency": self.settings.concurrency,
            "queues": self.settings.queues,
            "jobs": [
                {"id": j.id, "attempt": j.attempt, "type": j.type}
                for j in (self.held[i] for i in self.running)
            ],
            "completed": self.completed,
            "draining": self.stopping.is_set(),
        }

    def _touch_heartbeat_file(self) -> None:
        path: Path | None = self.settings.heartbeat_file
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(str(time.time()))


def _commit_logs(logs: list[AttemptLog]) -> None:
    """Write a batch of attempt logs (in a thread: file creation can block on a busy disk)."""
    for attempt_log in logs:
        attempt_log.commit()


def _consume(task: asyncio.Task[bool]) -> None:
    """Retrieve an abandoned task's outcome, so asyncio does not report it as lost."""
    if not task.cancelled():
        task.exception()
