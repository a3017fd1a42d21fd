"""Submission rate limits: one token bucket per client in Redis (``scripts/ratelimit.lua``).

Atomic in one script, so any number of masters share a client's budget exactly. The key layout
is in :mod:`cluster.keys` (``jf:rl:{client}``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from redis.asyncio import Redis

from cluster.keys import Keys
from cluster.scripts import script_source

_SOURCE = script_source("ratelimit")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    wait_s: float  # 0 when allowed; otherwise how long until the request would pass
    left: int  # tokens left in the bucket (rounded down)

    @property
    def retry_after(self) -> str:
        """The ``Retry-After`` header value: whole seconds, at least 1."""
        return str(max(1, math.ceil(self.wait_s)))


async def take_tokens(
    redis: Redis, keys: Keys, client: str, cost: int, rate: float, burst: int
) -> Decision:
    """Take ``cost`` tokens from ``client``'s bucket (refilled at ``rate``/s up to ``burst``).

    A cost over ``burst`` is charged as ``burst`` (a request as big as the limit allows must
    be able to pass once the bucket is full). Redis errors propagate to the caller.
    """
    script = redis.register_script(_SOURCE)  # hashing ~1 KB; EVALSHA, loaded on NOSCRIPT
    cost = max(1, min(cost, burst))
    raw = await script(keys=[keys.rate_bucket(client)], args=[repr(rate), burst, cost])
    allowed, wait_ms, left = (int(v) for v in raw)
    return Decision(bool(allowed), wait_ms / 1000, left)
