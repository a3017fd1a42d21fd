"""arq (asyncio). The enqueuer runs its own event loop so the harness stays synchronous."""

from __future__ import annotations

import asyncio

from arq.connections import ArqRedis, RedisSettings, create_pool

from bench.peers.base import Peer
from bench.procs import python_argv


class ArqPeer(Peer):
    name = "arq"
    distribution = "arq"
    import_name = "arq"
    defaults = {
        "max_jobs": 100,
        "poll_delay": 0.5,
        "job_timeout": 300,
        "enqueue_concurrency": 50,
        "log_level": "WARNING",
    }
    recovery_mechanism = (
        "in-progress key expiry: the job stays in the queue and another worker can take it only "
        "after the dead worker's in-progress key expires (job timeout 300 s + 10 s by default)"
    )

    def connect(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._pool: ArqRedis = self._loop.run_until_complete(
                create_pool(RedisSettings.from_dsn(self.redis_url))
            )
        except BaseException:
            self._loop.close()
            raise

    def worker_description(self) -> str:
        return (
            f"arq worker (1 process, asyncio) max_jobs={self.options['max_jobs']}, "
            f"poll_delay={self.options['poll_delay']} s, job_timeout="
            f"{self.options['job_timeout']} s, other WorkerSettings default (keep_result "
            f"3600 s), log level {self.options['log_level']}"
        )

    def enqueue_description(self) -> str:
        return (
            f"ArqRedis.enqueue_job, up to {self.options['enqueue_concurrency']} at once with "
            "asyncio.gather (arq has no bulk enqueue)"
        )

    def worker_argv(self, index: int) -> list[str]:
        return python_argv("-m", "bench.peers.arq_worker", str(self.options["log_level"]))

    async def _enqueue_many(self, n: int) -> None:
        chunk = int(self.options["enqueue_concurrency"])
        for start in range(0, n, chunk):
            await asyncio.gather(
                *(self._pool.enqueue_job("noop", 0.0) for _ in range(min(chunk, n - start)))
            )

    def enqueue(self, n: int) -> None:
        self._loop.run_until_complete(self._enqueue_many(n))

    def enqueue_one(self, sent: float) -> None:
        self._loop.run_until_complete(self._pool.enqueue_job("noop", sent))

    def enqueue_sleeper(self, token: str, seconds: float) -> None:
        self._loop.run_until_complete(self._pool.enqueue_job("sleeper", token, seconds))

    def disconnect(self) -> None:
        try:
            self._loop.run_until_complete(self._pool.aclose())
        finally:
            self._loop.close()
