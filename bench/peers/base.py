"""The uniform interface every benchmarked system implements."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, cast

import redis

from bench.peers.jobs import ENV_DONE_FILE, ENV_OPTIONS, ENV_REDIS_URL, READY_KEY, DoneLog
from bench.procs import WorkerProcess

OptionValue = str | int | float | bool


class WorkerStartError(RuntimeError):
    pass


def parse_option(default: OptionValue, raw: str) -> OptionValue:
    """Convert ``raw`` to the type of ``default``."""
    if isinstance(default, bool):
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"not a boolean: {raw!r}")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


class Peer(ABC):
    """One job-queue system: how to start its workers and how to enqueue the benchmark jobs.

    Lifecycle (per phase, against a fresh Redis): ``Peer(url, workdir, options)`` -> ``open()``
    -> ``enqueue*`` / ``start_workers`` / ... -> ``stop_workers()`` -> ``close()``.
    """

    name: ClassVar[str]
    #: distribution whose version is reported
    distribution: ClassVar[str]
    #: module that must be importable for the system to be benchmarked
    import_name: ClassVar[str]
    #: tunables with their defaults, overridable from the CLI (``--set name.key=value``)
    defaults: ClassVar[dict[str, OptionValue]] = {}
    #: what the system does by default when a worker dies holding a job
    recovery_mechanism: ClassVar[str] = ""

    def __init__(
        self,
        redis_url: str,
        workdir: Path,
        options: Mapping[str, OptionValue] | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.workdir = workdir
        self.options: dict[str, OptionValue] = dict(self.defaults)
        for key, value in (options or {}).items():
            if key not in self.defaults:
                raise KeyError(
                    f"{self.name}: unknown option {key!r} (known: {sorted(self.defaults)})"
                )
            self.options[key] = value
        self.workers: list[WorkerProcess] = []
        self._started = 0
        self._bench_redis = redis.Redis.from_url(redis_url)
        self.connected = False
        # no-op jobs record their start in a file (see bench.peers.jobs), or in Redis
        to_redis = os.environ.get("BENCH_RECORD", "file") == "redis"
        self.done_path = None if to_redis else str(workdir / f"done-{uuid.uuid4().hex}.log")
        self.done = DoneLog(self._bench_redis, self.done_path)

    def open(self) -> None:
        """Connect the enqueueing client (construction alone opens nothing)."""
        self.connect()
        self.connected = True

    def close(self) -> None:
        if self.connected:
            self.connected = False
            self.disconnect()
        self._bench_redis.close()

    @abstractmethod
    def connect(self) -> None:
        """Open the enqueueing client."""

    @abstractmethod
    def disconnect(self) -> None:
        """Close the enqueueing client."""

    # --- what is benchmarked -------------------------------------------------------------------

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """``None`` if the system can run here, else why not."""
        if importlib.util.find_spec(cls.import_name) is None:
            return f"{cls.import_name} is not importable (pip install -r bench/requirements.txt)"
        return None

    @classmethod
    def version(cls) -> str:
        try:
            return importlib.metadata.version(cls.distribution)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    @abstractmethod
    def worker_description(self) -> str:
        """One line saying exactly how each worker runs (for the report)."""

    def enqueue_description(self) -> str:
        return ""

    def describe(self) -> dict[str, object]:
        return {
            "version": self.version(),
            "options": dict(self.options),
            "worker": self.worker_description(),
            "enqueue": self.enqueue_description(),
            "recovery_mechanism": self.recovery_mechanism,
        }

    def last_recorded_completion(self, timeout_s: float) -> float | None:
        """Wall time of the last completion the system recorded, for a system that records
        them after the job body ran (waiting up to ``timeout_s`` for all to be recorded);
        ``None`` where the job's own start record is the best completion time there is."""
        return None

    # --- workers -------------------------------------------------------------------------------

    @abstractmethod
    def worker_argv(self, index: int) -> list[str]:
        """The command line of worker number ``index``."""

    def worker_env(self, index: int) -> dict[str, str]:
        return {
            ENV_REDIS_URL: self.redis_url,
            ENV_OPTIONS: json.dumps(self.options),
            ENV_DONE_FILE: self.done_path or "",
        }

    def start_worker(self) -> WorkerProcess:
        index = self._started
        self._started += 1
        proc = WorkerProcess(
            self.worker_argv(index),
            self.worker_env(index),
            self.workdir / f"{self.name}-worker{index}.log",
            label=f"{self.name}-worker{index}",
        )
        self.workers.append(proc)
        return proc

    def start_workers(
        self, n: int, wait_ready: bool = True, timeout_s: float = 60.0
    ) -> list[WorkerProcess]:
        procs = [self.start_worker() for _ in range(n)]
        if wait_ready:
            self.wait_ready(procs, timeout_s)
        return procs

    def wait_ready(self, procs: list[WorkerProcess], timeout_s: float = 60.0) -> None:
        """Block until each of ``procs`` has a process that pushed its pid to ``bench:ready``."""
        deadline = time.monotonic() + timeout_s
        pending = list(procs)
        while pending:
            raw_ready = cast(list[bytes], self._bench_redis.lrange(READY_KEY, 0, -1))
            ready = {int(raw) for raw in raw_ready}
            pending = [p for p in pending if not (p.pids() & ready)]
            for proc in pending:
                if not proc.alive():
                    raise WorkerStartError(
                        f"{proc.label} exited with {proc.popen.returncode}:\n{proc.log_tail()}"
                    )
            if not pending:
                return
            if time.monotonic() > deadline:
                tails = "\n".join(f"{p.label}:\n{p.log_tail()}" for p in pending)
                raise WorkerStartError(f"workers not ready within {timeout_s}s:\n{tails}")
            time.sleep(0.05)

    def worker_owning(self, pid: int) -> WorkerProcess | None:
        for proc in self.workers:
            if proc.owns(pid):
                return proc
        return None

    def kill_worker(self, proc: WorkerProcess) -> None:
        proc.kill()
        if proc in self.workers:
            self.workers.remove(proc)

    def stop_workers(self) -> None:
        while self.workers:
            self.kill_worker(self.workers[-1])

    def rss_bytes(self) -> int:
        """Resident memory of all workers, children included."""
        return sum(p.rss_bytes() for p in self.workers)

    # --- jobs ----------------------------------------------------------------------------------

    @abstractmethod
    def enqueue(self, n: int) -> None:
        """Enqueue ``n`` no-op jobs (argument ``sent=0``) with the library's normal bulk API."""

    @abstractmethod
    def enqueue_one(self, sent: float) -> None:
        """Enqueue one no-op job carrying its enqueue wall time."""

    @abstractmethod
    def enqueue_sleeper(self, token: str, seconds: float) -> None:
        """Enqueue one sleeper job (see :func:`bench.peers.jobs.sleeper`)."""
