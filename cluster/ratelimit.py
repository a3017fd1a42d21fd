"""Admission of submissions: one token bucket per client in Redis, and the queue-depth ceiling,
checked together by one script (``scripts/ratelimit.lua``) in one round trip.

Atomic in one script, so any number of masters share a client's budget exactly. The key layout
is in :mod:`cluster.keys` (``jf:rl:{client}``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from cluster.keys import Keys
from cluster.scripts import script_source

_SOURCE = script_source("ratelimit")
MAX_CACHED_QUEUES = 1024


@dataclass(frozen=True)
class Decision:
    allowed: bool
    wait_s: float  # 0 when allowed or refused for depth; else how long until it would pass
    left: int  # tokens left in the bucket (rounded down)
    full: str | None = None  # the queue over the depth ceiling (refused, nothing charged)
    depth: int = 0  # that queue's ready + scheduled jobs

    @property
    def retry_after(self) -> str:
        """The ``Retry-After`` header value: whole seconds, at least 1."""
        return str(max(1, math.ceil(self.wait_s)))


class Admission:
    """The admission script bound to one Redis client (registered once, sent with EVALSHA)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.keys = keys
        self.script: AsyncScript = redis.register_script(_SOURCE)
        self._depth_keys: dict[str, list[str]] = {}  # queue -> its ready and scheduled keys

    async def check(
        self,
        client: str,
        cost: int,
        rate: float,
        burst: int,
        wanted: Mapping[str, int] | None = None,
        ceiling: int = 0,
    ) -> Decision:
        """Refuse if a queue of ``wanted`` (queue -> new jobs) would pass ``ceiling`` ready +
        scheduled jobs (0: no ceiling); else take ``cost`` tokens from ``client``'s bucket
        (refilled at ``rate``/s up to ``burst``; 0: no rate limit).

        A cost over ``burst`` is charged as ``burst`` (a request as big as the limit allows
        must be able to pass once the bucket is full). The depth is read before the jobs are
        written, by another script: concurrent submitters may overshoot the ceiling by one
        request each. Redis errors propagate to the caller.
        """
        names = sorted(wanted) if wanted and ceiling > 0 else []
        keys = [self.keys.rate_bucket(client)]
        args: list[str | int] = [repr(float(rate)), burst, max(1, min(cost, burst)), ceiling]
        for name in names:
            keys += self._depth_keys.get(name) or self._queue_keys(name)
        args += [wanted[name] for name in names] if wanted else []
        raw = await self.script(keys=keys, args=args)
        allowed, wait_ms, left, full, depth = (int(v) for v in raw)
        return Decision(
            bool(allowed), wait_ms / 1000, left, names[full - 1] if full else None, depth
        )

    def _queue_keys(self, name: str) -> list[str]:
        queue = self.keys.queue(name)
        if len(self._depth_keys) < MAX_CACHED_QUEUES:  # declared queues only, in practice
            self._depth_keys[name] = [queue.ready, queue.scheduled]
        return [queue.ready, queue.scheduled]


async def take_tokens(
    redis: Redis, keys: Keys, client: str, cost: int, rate: float, burst: int
) -> Decision:
    """Take ``cost`` tokens from ``client``'s bucket (refilled at ``rate``/s up to ``burst``).

    A cost over ``burst`` is charged as ``burst`` (a request as big as the limit allows must
    be able to pass once the bucket is full). Redis errors propagate to the caller.
    """
    return await Admission(redis, keys).check(client, cost, rate, burst)
