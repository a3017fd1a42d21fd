"""``GET /ui``: a status page that needs no other service, and ``GET /ui/summary``, its data.

The page (``static/ui.html``) is plain HTML and JavaScript, no external resource: it polls
``/ui/summary`` every two seconds and draws queues, workers (heartbeat age, current jobs),
recent failures and a throughput sparkline. With API tokens configured it sends the token
given once in the address as ``/ui#token=<token>`` (kept in the tab's sessionStorage).

Throughput is the growth of the ``succeeded`` + ``failed`` indexes between samples; the master
samples when the summary is asked for (at most once a second) and keeps the last
``SAMPLES`` samples, so the sparkline fills while someone watches.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cluster.master.state import MasterState
from cluster.presence import live_workers
from cluster.queue import list_jobs, queue_stats

router = APIRouter(tags=["operations"])
STATIC = Path(__file__).resolve().parent / "static"
SAMPLES = 90
MIN_SAMPLE_S = 1.0
FAILURES = 8


class Throughput:
    """Finished-job counts sampled over time, turned into jobs per second."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, int]] = deque(maxlen=SAMPLES + 1)

    def sample(self, now: float, finished: int) -> list[list[float]]:
        if not self.samples or now - self.samples[-1][0] >= MIN_SAMPLE_S:
            self.samples.append((now, finished))
        points = list(self.samples)
        return [
            [round(t1, 3), round(max(0, n1 - n0) / (t1 - t0), 3)]
            for (t0, n0), (t1, n1) in itertools.pairwise(points)
        ]


@cache
def _page() -> bytes:
    return (STATIC / "ui.html").read_bytes()


def _tracker(request: Request) -> Throughput:
    tracker: Throughput | None = getattr(request.app.state, "ui_throughput", None)
    if tracker is None:
        tracker = request.app.state.ui_throughput = Throughput()
    return tracker


@router.get("/ui", include_in_schema=False)
async def page() -> Response:
    return HTMLResponse(_page(), headers={"Cache-Control": "no-cache"})


@router.get("/ui/summary")
async def summary(request: Request) -> Response:
    """Everything the status page shows, in one response."""
    state: MasterState = request.app.state.master
    stats = await queue_stats(state.queue, state.settings.queues)
    max_age = max(state.settings.heartbeat_s * 5, 5.0)
    workers = await live_workers(state.redis, state.queue.keys, state.queue.clock(), max_age)
    failed, _ = await list_jobs(state.queue, "failed", FAILURES, None)
    async with state.redis.pipeline(transaction=False) as pipe:
        pipe.zcard(state.queue.keys.index("succeeded"))
        pipe.zcard(state.queue.keys.index("failed"))
        succeeded, dead = await pipe.execute()
    now = time.time()
    body: dict[str, Any] = {
        "now": now,
        "queues": [vars(s) for s in stats],
        "workers": [_worker(w.id, w.heartbeat_age_s, w.info) for w in workers],
        "failures": [
            {k: getattr(r, k) for k in ("id", "type", "queue", "attempts", "error", "finished_at")}
            for r in failed
        ],
        "finished": {"succeeded": succeeded, "failed": dead},
        "throughput": _tracker(request).sample(now, succeeded + dead),
    }
    return Response(orjson.dumps(body), media_type="application/json")


def _worker(worker_id: str, age: float, info: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": worker_id,
        "heartbeat_age_s": age,
        "host": info.get("host"),
        "jobs": info.get("jobs", []),
        "concurrency": info.get("concurrency"),
        "completed": info.get("completed"),
        "draining": bool(info.get("draining")),
    }
