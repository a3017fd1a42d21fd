"""What the master holds while it runs: Redis, the queue protocol, and cached task types."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

from cluster.connection import connect
from cluster.presence import known_task_types
from cluster.queue import JobQueue
from cluster.settings import Settings
from cluster.tasks import builtin_names

log = logging.getLogger("jobfleet.master")
TASK_CACHE_S = 2.0


@dataclass
class MasterState:
    settings: Settings
    redis: Redis
    queue: JobQueue
    builtins: frozenset[str] = field(default_factory=lambda: frozenset(builtin_names()))
    _types: frozenset[str] = frozenset()
    _types_at: float = 0.0
    _maintainer: asyncio.Task[None] | None = None

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
        self._maintainer = asyncio.create_task(self._maintain_forever())

    async def close(self) -> None:
        if self._maintainer is not None:
            self._maintainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintainer
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
            await asyncio.sleep(self.settings.maintenance_s)
            for name in self.settings.queues:
                try:
                    await self.queue.maintain(name)
                except (RedisError, OSError) as exc:
                    log.warning("maintenance failed", extra={"error": str(exc)})
                    break
