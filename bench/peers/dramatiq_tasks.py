"""Dramatiq broker and actors for the benchmark's Dramatiq workers
(``dramatiq bench.peers.dramatiq_tasks:broker``)."""

from __future__ import annotations

import os
from typing import Any

import dramatiq
from dramatiq.brokers.redis import (
    DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_MAINTENANCE_CHANCE,
    RedisBroker,
)
from dramatiq.middleware import Middleware

from bench.peers import jobs

QUEUE = "default"


class ReadyMiddleware(Middleware):
    """Pushes the worker process' pid to ``bench:ready`` once its consumers run."""

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        jobs.mark_ready()


def declare_actors(target: RedisBroker) -> dict[str, dramatiq.Actor[Any, Any]]:
    """Bind the benchmark's actors to ``target`` (the enqueuer binds them to its own broker)."""
    return {
        "noop": dramatiq.actor(actor_name="noop", queue_name=QUEUE, broker=target)(jobs.noop),
        "sleeper": dramatiq.actor(actor_name="sleeper", queue_name=QUEUE, broker=target)(
            jobs.sleeper
        ),
    }


def make_broker(url: str, worker: bool, options: dict[str, Any] | None = None) -> RedisBroker:
    """The broker; ``heartbeat_timeout`` (ms) and ``maintenance_chance`` (per million commands)
    default to Dramatiq's own defaults."""
    options = options or {}
    made = RedisBroker(  # type: ignore[no-untyped-call]
        url=url,
        heartbeat_timeout=int(options.get("heartbeat_timeout", DEFAULT_HEARTBEAT_TIMEOUT)),
        maintenance_chance=int(options.get("maintenance_chance", DEFAULT_MAINTENANCE_CHANCE)),
    )
    if worker:
        made.add_middleware(ReadyMiddleware())
    return made


# Only worker processes (started with BENCH_REDIS_URL set) build the module-level broker.
if jobs.ENV_REDIS_URL in os.environ:
    broker = make_broker(jobs.redis_url(), worker=True, options=jobs.worker_options())
    dramatiq.set_broker(broker)
    actors = declare_actors(broker)
