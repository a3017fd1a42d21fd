"""RQ: ``SimpleWorker`` (no fork per job) by default; ``--set rq.worker_class=fork`` for RQ's
default forking ``Worker``."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from bench.peers import rq_tasks
from bench.peers.base import Peer
from bench.procs import python_argv


class RqPeer(Peer):
    name = "rq"
    distribution = "rq"
    import_name = "rq"
    defaults = {"worker_class": "simple", "batch": 1000, "log_level": "WARNING"}
    recovery_mechanism = (
        "none by default: the dead worker's job stays in StartedJobRegistry until its execution "
        "entry expires (job timeout 180 s + 60 s), then worker maintenance (every 10 min) moves "
        "it to FailedJobRegistry as AbandonedJobError; it is re-run only if enqueued with Retry"
    )

    def connect(self) -> None:
        self._conn = Redis.from_url(self.redis_url)
        self._queue = Queue("default", connection=self._conn)

    def worker_description(self) -> str:
        cls = "SimpleWorker (runs jobs in the worker process, no fork)"
        if self.options["worker_class"] == "fork":
            cls = "Worker (RQ default: forks a work horse per job)"
        return f"rq {cls}, 1 process each, log level {self.options['log_level']}"

    def enqueue_description(self) -> str:
        return f"Queue.enqueue_many(Queue.prepare_data(...)) in batches of {self.options['batch']}"

    def worker_argv(self, index: int) -> list[str]:
        return python_argv(
            "-m", "bench.peers.rq_worker",
            "--worker-class", str(self.options["worker_class"]),
            "--name", f"bench-{index}",
            "--log-level", str(self.options["log_level"]),
        )  # fmt: skip

    def enqueue(self, n: int) -> None:
        batch = int(self.options["batch"])
        for start in range(0, n, batch):
            datas = [
                Queue.prepare_data(rq_tasks.noop, args=(0.0,)) for _ in range(min(batch, n - start))
            ]
            self._queue.enqueue_many(datas)

    def enqueue_one(self, sent: float) -> None:
        self._queue.enqueue(rq_tasks.noop, sent)

    def enqueue_sleeper(self, token: str, seconds: float) -> None:
        self._queue.enqueue(rq_tasks.sleeper, token, seconds)

    def disconnect(self) -> None:
        self._conn.close()
