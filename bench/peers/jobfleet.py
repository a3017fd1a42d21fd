"""jobfleet adapter -- STUB.

TODO(jobfleet): finish this adapter once the worker and the queue API settle. Until
``IMPLEMENTED`` is True (and ``cluster.queue`` imports), the harness skips jobfleet and runs the
peers only; ``--systems jobfleet`` then fails with the reason.

What is left to do:

1. Tasks: a module (e.g. ``bench/peers/jobfleet_tasks.py``) registering two tasks that call
   :func:`bench.peers.jobs.noop` / :func:`bench.peers.jobs.sleeper` (or async equivalents that
   RPUSH the same entries), plus a "ready" hook calling :func:`bench.peers.jobs.mark_ready`
   from each worker process once it claims jobs (if jobfleet has no hook, push it from the
   tasks module's import in the worker and keep a short settle delay).
2. ``worker_argv``/``worker_env``: below is the expected shape (``jobfleet worker`` with
   ``JOBFLEET_REDIS_URL``, ``JOBFLEET_CONCURRENCY``, ``JOBFLEET_LOG_DIR``,
   ``JOBFLEET_TASKS_MODULE``); check the names against ``cluster.settings``.
3. ``connect``/``enqueue``/``enqueue_one``/``enqueue_sleeper``/``close``: submit through
   ``cluster.queue.JobQueue`` (async: run it on a private event loop as ``bench/peers/arq.py``
   does); ``enqueue`` should use the batch submit path.
4. ``recovery_mechanism``: describe the lease (``JOBFLEET_LEASE_S``, default 5 s) + maintenance.
5. Set ``IMPLEMENTED = True``.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from bench.peers.base import Peer

IMPLEMENTED = False


class JobfleetPeer(Peer):
    name = "jobfleet"
    distribution = "jobfleet"
    import_name = "cluster.queue"
    defaults = {"concurrency": 8}
    recovery_mechanism = "TODO: lease expiry (JOBFLEET_LEASE_S) reclaimed by worker maintenance"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            found = importlib.util.find_spec(cls.import_name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return "jobfleet (cluster.queue) is not importable"
        if not IMPLEMENTED:
            return "bench/peers/jobfleet.py is still a stub (see its TODO)"
        return None

    def connect(self) -> None:
        pass  # TODO(jobfleet): open a cluster.queue.JobQueue on a private event loop

    def disconnect(self) -> None:
        pass  # TODO(jobfleet): close it

    def worker_description(self) -> str:
        return f"jobfleet worker, JOBFLEET_CONCURRENCY={self.options['concurrency']}"

    def worker_argv(self, index: int) -> list[str]:
        script = Path(sys.executable).parent / "jobfleet"
        if script.exists():
            return [str(script), "worker"]
        found = shutil.which("jobfleet")
        return [found or "jobfleet", "worker"]

    def worker_env(self, index: int) -> dict[str, str]:
        log_dir = self.workdir / f"jobfleet-logs-{index}"
        log_dir.mkdir(parents=True, exist_ok=True)
        env = super().worker_env(index)
        env.update(
            {
                "JOBFLEET_REDIS_URL": self.redis_url,
                "JOBFLEET_CONCURRENCY": str(self.options["concurrency"]),
                "JOBFLEET_LOG_DIR": str(log_dir),
                "JOBFLEET_TASKS_MODULE": "bench.peers.jobfleet_tasks",  # TODO(jobfleet): write it
                "JOBFLEET_WORKER_NAME": f"bench-{index}",
            }
        )
        return env

    def enqueue(self, n: int) -> None:
        raise NotImplementedError("TODO(jobfleet): batch submit via cluster.queue")

    def enqueue_one(self, sent: float) -> None:
        raise NotImplementedError("TODO(jobfleet): submit one noop(sent) via cluster.queue")

    def enqueue_sleeper(self, token: str, seconds: float) -> None:
        raise NotImplementedError(
            "TODO(jobfleet): submit sleeper(token, seconds) via cluster.queue"
        )
