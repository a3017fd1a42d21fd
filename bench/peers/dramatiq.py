"""Dramatiq with its Redis broker."""

from __future__ import annotations

from typing import Any

from dramatiq import Actor

from bench.peers.base import Peer
from bench.peers.dramatiq_tasks import declare_actors, make_broker
from bench.procs import python_argv


class DramatiqPeer(Peer):
    name = "dramatiq"
    distribution = "dramatiq"
    import_name = "dramatiq"
    defaults = {"threads": 8, "heartbeat_timeout": 60_000, "maintenance_chance": 1000}
    recovery_mechanism = (
        "heartbeats: a dead worker's unacked messages are requeued by the maintenance step of the "
        "dispatch script, which runs on ~0.1% of broker commands (maintenance_chance=1000 per "
        "million) and only once the worker missed heartbeats for heartbeat_timeout (60 s)"
    )

    def connect(self) -> None:
        self._broker = make_broker(self.redis_url, worker=False, options=self.options)
        self._actors: dict[str, Actor[Any, Any]] = declare_actors(self._broker)

    def worker_description(self) -> str:
        return (
            f"dramatiq --processes 1 --threads {self.options['threads']} per worker (a supervisor "
            f"plus one worker process), RedisBroker heartbeat_timeout "
            f"{self.options['heartbeat_timeout']} ms, maintenance_chance "
            f"{self.options['maintenance_chance']}/1e6, default middleware"
        )

    def enqueue_description(self) -> str:
        return "Actor.send() in a loop (Dramatiq has no bulk enqueue; group.run() loops the same)"

    def worker_argv(self, index: int) -> list[str]:
        return python_argv(
            "-m", "dramatiq", "bench.peers.dramatiq_tasks:broker",
            "--processes", "1",
            "--threads", str(self.options["threads"]),
        )  # fmt: skip

    def enqueue(self, n: int) -> None:
        noop = self._actors["noop"]
        for _ in range(n):
            noop.send(0.0)

    def enqueue_one(self, sent: float) -> None:
        self._actors["noop"].send(sent)

    def enqueue_sleeper(self, token: str, seconds: float) -> None:
        self._actors["sleeper"].send(token, seconds)

    def disconnect(self) -> None:
        self._broker.close()
