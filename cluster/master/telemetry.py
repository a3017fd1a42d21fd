"""``GET /metrics``: the master's Prometheus metrics (see :mod:`cluster.metrics`).

The queue gauges and the live-worker count are read from Redis at each scrape, so they are
exactly as fresh as the scrape; if Redis does not answer, the last values are served and the
round-trip histogram records nothing for that scrape.
"""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request
from fastapi.responses import Response
from redis.exceptions import RedisError

from cluster import metrics
from cluster.master.state import MasterState
from cluster.presence import live_workers
from cluster.queue import queue_stats

router = APIRouter(tags=["operations"])


async def refresh(state: MasterState) -> None:
    """Queue depth, in flight, scheduled and dead per queue, live workers, Redis RTT."""
    with contextlib.suppress(RedisError, OSError):
        await metrics.timed("ping", state.redis.ping())
        stats = await queue_stats(state.queue, state.settings.queues)
        max_age = max(state.settings.heartbeat_s * 5, 5.0)
        found = await live_workers(state.redis, state.queue.keys, state.queue.clock(), max_age)
        metrics.queues(stats, len(found))


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text exposition of the master's registry."""
    await refresh(request.app.state.master)
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
