"""Celery with the Redis broker and ``acks_late=True``."""

from __future__ import annotations

from celery import Celery

from bench.peers.base import Peer
from bench.peers.celery_app import make_app
from bench.procs import python_argv


class CeleryPeer(Peer):
    name = "celery"
    distribution = "celery"
    import_name = "celery"
    defaults = {
        "pool": "threads",
        "concurrency": 8,
        "prefetch_multiplier": 4,
        "visibility_timeout": 3600,
        "lean": True,
        "log_level": "WARNING",
    }
    recovery_mechanism = (
        "acks_late: the killed worker's message waits in the Redis transport's 'unacked' hash "
        "until a live worker restores it, which it checks about every 100 s (kombu polls every "
        "10 s and acts on every 10th poll) for messages older than visibility_timeout (default "
        "3600 s); the job re-runs after ~1 h by default"
    )

    def connect(self) -> None:
        self._app: Celery = make_app(
            self.redis_url,
            int(self.options["prefetch_multiplier"]),
            int(self.options["visibility_timeout"]),
        )
        self._noop = self._app.tasks["bench.noop"]
        self._sleeper = self._app.tasks["bench.sleeper"]

    def worker_description(self) -> str:
        lean = (
            ", --without-gossip --without-mingle --without-heartbeat"
            if self.options["lean"]
            else ""
        )
        return (
            f"celery worker --pool {self.options['pool']} --concurrency "
            f"{self.options['concurrency']}, prefetch multiplier "
            f"{self.options['prefetch_multiplier']}, acks_late=True, visibility_timeout "
            f"{self.options['visibility_timeout']} s, no result backend"
            f"{lean}, log level {self.options['log_level']}"
        )

    def enqueue_description(self) -> str:
        return (
            "Task.apply_async(producer=...) in a loop over one producer (Celery has no bulk send)"
        )

    def worker_argv(self, index: int) -> list[str]:
        argv = python_argv(
            "-m", "celery", "-A", "bench.peers.celery_app", "worker",
            "--pool", str(self.options["pool"]),
            "--concurrency", str(self.options["concurrency"]),
            "--loglevel", str(self.options["log_level"]),
            "--hostname", f"bench{index}@%h",
        )  # fmt: skip
        if self.options["lean"]:
            argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        return argv

    def enqueue(self, n: int) -> None:
        with self._app.producer_or_acquire() as producer:
            for _ in range(n):
                self._noop.apply_async(args=(0.0,), producer=producer)

    def enqueue_one(self, sent: float) -> None:
        self._noop.apply_async(args=(sent,))

    def enqueue_sleeper(self, token: str, seconds: float) -> None:
        self._sleeper.apply_async(args=(token, seconds))

    def disconnect(self) -> None:
        self._app.close()
