"""The Celery app used by the benchmark's Celery workers (``celery -A bench.peers.celery_app``).

Broker: Redis from ``BENCH_REDIS_URL``; ``acks_late=True``; no result backend (completion is
recorded by the job itself, like for every system).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready

from bench.peers import jobs


def make_app(
    broker_url: str, prefetch_multiplier: int = 4, visibility_timeout: int = 3600
) -> Celery:
    """The app; ``visibility_timeout`` is the Redis transport's (3600 s is kombu's default)."""
    app = Celery("bench", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=prefetch_multiplier,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": visibility_timeout},
    )
    app.task(name="bench.noop")(_noop)
    app.task(name="bench.sleeper")(_sleeper)
    return app


def _noop(sent: float) -> None:
    jobs.noop(sent)


def _sleeper(token: str, seconds: float) -> None:
    jobs.sleeper(token, seconds)


def _on_ready(**_: Any) -> None:
    jobs.mark_ready()


# Only worker processes (started with BENCH_REDIS_URL set) build the module-level app.
if jobs.ENV_REDIS_URL in os.environ:
    _options = jobs.worker_options()
    app = make_app(
        jobs.redis_url(),
        int(_options.get("prefetch_multiplier", 4)),
        int(_options.get("visibility_timeout", 3600)),
    )
    worker_ready.connect(_on_ready, weak=False)
