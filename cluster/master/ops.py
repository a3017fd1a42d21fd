"""Operator endpoints: queues, workers, liveness and readiness."""

from __future__ import annotations

from dataclasses import asdict

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from redis.exceptions import RedisError

from cluster.master.state import MasterState
from cluster.presence import live_workers
from cluster.queue import queue_stats

router = APIRouter(tags=["operations"])


def _state(request: Request) -> MasterState:
    state: MasterState = request.app.state.master
    return state


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


@router.get("/queues")
async def queues(request: Request) -> Response:
    """Per queue: ready (queued), in flight (running), scheduled, dead-lettered (failed)."""
    state = _state(request)
    stats = await queue_stats(state.queue, state.settings.queues)
    return _json({"queues": [asdict(s) for s in stats]})


@router.get("/workers")
async def workers(request: Request) -> Response:
    """Live workers, their heartbeat age and what each is running."""
    state = _state(request)
    max_age = max(state.settings.heartbeat_s * 5, 5.0)
    found = await live_workers(state.redis, state.queue.keys, state.queue.clock(), max_age)
    return _json({"workers": [asdict(w) for w in found]})


@router.get("/healthz")
async def healthz() -> Response:
    """The process is alive."""
    return _json({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Redis answers and holds every protocol script: 200, else 503."""
    state = _state(request)
    try:
        await state.redis.ping()
        if not await state.queue.scripts.loaded(state.redis):
            await state.queue.scripts.load(state.redis)
    except (RedisError, OSError) as exc:
        return _json({"status": "unavailable", "detail": str(exc)}, 503)
    return _json({"status": "ready"})
