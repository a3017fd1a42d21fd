"""What the master holds while it runs: Redis, the queue protocol, and cached task types."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

from cluster import metrics
from cluster.connection import connect
from cluster.master.autopipeline import AutoPipeline
from cluster.presence import known_task_types
from cluster.queue import JobQueue
from cluster.ratelimit import Admission
from cluster.settings import Settings
from cluster.tasks import builtin_names

log = logging.getLogger("jobfleet.master")
TASK_CACHE_S = 2.0
CLOSE_WAIT_S = 5.0


@dataclass
class MasterState:
    settings: Settings
    redis: Redis
    queue: JobQueue
    builtins: frozenset[str] = field(default_factory=lambda: frozenset(builtin_names()))
    _types: frozenset[str] = frozenset()
    _types_at: float = 0.0
    _maintainer: asyncio.Task[None] | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    admission: Admission = field(init=False)  # depth ceiling + rate limit, one script
    submitter: JobQueue = field(init=False)  # for submission.store: auto-pipelined

    def __post_init__(self) -> None:
        """The submit path's Redis calls go through one auto-pipelining client (see
        ``autopipeline``); everything else uses ``redis`` and ``queue`` as they are."""
        hot = AutoPipeline(self.redis.connection_pool)
        self.admission = Admission(hot, self.queue.keys)
        self.submitter = JobQueue(
            hot,
            prefix=self.queue.keys.prefix,  # the same protocol as ``queue``
            result_ttl_s=self.queue.result_ttl_s,
            idempotency_ttl_s=self.queue.idempotency_ttl_s,
            clock=self.queue.clock,
        )

    @classmethod
    def open(cls, settings: Settings) -> MasterState:
        redis = connect(settings)
        queue = JobQueue(
            redis,
            prefix=settings.key_prefix,
            result_ttl_s=settings.result_ttl_s,
            idempotency_ttl_s=settings.idempotency_ttl_s,
        )
        return cls(settings, redis, queue)

    async def start(self) -> None:
        with contextlib.suppress(RedisError, OSError):  # /readyz reports it until Redis is up
            await self.queue.scripts.load(self.redis)
            await self.redis.script_load(self.admission.script.script)
        self._maintainer = asyncio.create_task(self._maintain_forever())

    async def close(self) -> None:
        """Stop maintenance by asking, not by cancelling: on Python 3.11 a cancel that lands
        while redis-py sends a command can be swallowed, and shutdown would then hang."""
        self._closing.set()
        if self._maintainer is not None:
            _, left = await asyncio.wait({self._maintainer}, timeout=CLOSE_WAIT_S)
            for task in left:
                task.cancel()
                await asyncio.wait({task}, timeout=CLOSE_WAIT_S)
        await self.redis.aclose()

    async def task_types(self) -> frozenset[str]:
        """Built-in types plus every type a worker has announced (cached briefly)."""
        if time.monotonic() - self._types_at > TASK_CACHE_S:
            self._types = self.builtins | await known_task_types(self.redis, self.queue.keys)
            self._types_at = time.monotonic()
        return self._types

    async def _maintain_forever(self) -> None:
        """The master also promotes due jobs and reclaims lapsed leases, like every worker."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.maintenance_s):
                    await self._closing.wait()
            if self._closing.is_set():
                return
            for name in self.settings.queues:
                try:
                    metrics.maintained(name, await self.queue.maintain(name))
                except (RedisError, OSError) as exc:
                    log.warning("maintenance failed", extra={"error": str(exc)})
                    break
