"""jobfleet: ``jobfleet worker`` processes, jobs submitted through ``cluster.queue.JobQueue``.

Everything the product guarantees stays on: leases renewed by heartbeat, fencing tokens,
completion recorded atomically with the acknowledgement, and one log file per attempt on disk.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from pathlib import Path
from typing import cast

from bench.peers.base import Peer

BATCH = 1000


class JobfleetPeer(Peer):
    name = "jobfleet"
    distribution = "jobfleet"
    import_name = "cluster.queue"
    defaults = {"concurrency": 256, "lease_s": 5.0, "task": "async"}
    recovery_mechanism = (
        "lease (JOBFLEET_LEASE_S, default 5 s) renewed every lease/3 s; every worker and the "
        "master reclaim lapsed leases every 0.25 s"
    )

    def connect(self) -> None:
        from redis.asyncio import Redis

        from cluster.queue import JobQueue

        self._loop = asyncio.new_event_loop()
        self._redis = Redis.from_url(self.redis_url, decode_responses=True)
        self._queue = JobQueue(self._redis)

    def disconnect(self) -> None:
        try:
            self._loop.run_until_complete(self._redis.aclose())
        finally:
            self._loop.close()

    def worker_description(self) -> str:
        kind = (
            "plain function in reused task threads" if self._noop == "bench_noop" else "coroutine"
        )
        return (
            f"jobfleet worker (asyncio), JOBFLEET_CONCURRENCY={self.options['concurrency']}, "
            f"lease {self.options['lease_s']} s, a log file per attempt; no-op job: {kind}"
        )

    @property
    def _noop(self) -> str:
        return "bench_noop_async" if self.options["task"] == "async" else "bench_noop"

    def enqueue_description(self) -> str:
        return f"JobQueue.submit, {BATCH} jobs per call (one Lua script per batch)"

    def worker_argv(self, index: int) -> list[str]:
        script = Path(sys.executable).parent / "jobfleet"
        if script.exists():
            return [str(script), "worker"]
        return [shutil.which("jobfleet") or "jobfleet", "worker"]

    def worker_env(self, index: int) -> dict[str, str]:
        log_dir = self.workdir / "jobfleet-logs"  # shared by the workers, like the volume
        log_dir.mkdir(parents=True, exist_ok=True)
        env = super().worker_env(index)
        env.update(
            {
                "JOBFLEET_REDIS_URL": self.redis_url,
                "JOBFLEET_CONCURRENCY": str(self.options["concurrency"]),
                "JOBFLEET_LEASE_S": str(self.options["lease_s"]),
                "JOBFLEET_LOG_DIR": str(log_dir),
                "JOBFLEET_TASKS_MODULE": "bench.peers.jobfleet_tasks",
                "JOBFLEET_WORKER_NAME": f"bench-{index}",
                "JOBFLEET_METRICS_PORT": "0",
            }
        )
        return env

    def _submit(self, specs: list[object]) -> None:
        self._loop.run_until_complete(self._queue.submit(specs))  # type: ignore[arg-type]

    def last_recorded_completion(self, timeout_s: float) -> float | None:
        """The latest ``finished_at`` of the succeeded jobs, once all are recorded."""
        keys = self._queue.keys
        deadline = time.monotonic() + timeout_s
        while True:
            ids = cast(list[bytes], self._bench_redis.zrange(keys.index("succeeded"), 0, -1))
            queued = cast(int, self._bench_redis.zcard(keys.queue("default").ready))
            leased = cast(int, self._bench_redis.zcard(keys.queue("default").leases))
            if (queued == 0 and leased == 0) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        with self._bench_redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(keys.job(job_id.decode()), "finished_at")
            finished = [int(ms) for ms in pipe.execute() if ms is not None]
        return max(finished) / 1000 if finished else None

    def enqueue(self, n: int) -> None:
        from cluster.models import JobSpec

        for start in range(0, n, BATCH):
            count = min(BATCH, n - start)
            self._submit([JobSpec(type=self._noop, payload={"sent": 0.0})] * count)

    def enqueue_one(self, sent: float) -> None:
        from cluster.models import JobSpec

        self._submit([JobSpec(type=self._noop, payload={"sent": sent})])

    def enqueue_sleeper(self, token: str, seconds: float) -> None:
        from cluster.models import JobSpec

        payload = {"token": token, "seconds": seconds}
        self._submit([JobSpec(type="bench_sleeper", payload=payload)])
