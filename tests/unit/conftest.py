"""Fixtures of the unit suite: a real master process, real worker processes, a clean Redis.

Every process started here is killed when its fixture ends, whether the test passed or not;
when a test fails, the last lines each process printed are shown with the failure.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.redis_server import free_port
from tests.unit.helpers import (
    Api,
    Proc,
    clean_env,
    jobfleet_argv,
    wait_http,
    wait_until,
    worker_pid,
)

QUEUES = "default,other"
MASTER_SETTINGS: dict[str, Any] = {
    "queues": QUEUES,
    "maintenance_s": 0.1,
    "heartbeat_s": 0.2,
    "max_payload_bytes": 4096,
    "max_body_bytes": 262_144,
    "max_batch": 2000,
    "submit_rate": 0,  # no rate limit and no depth ceiling: these tests are not about them
    "max_queue_depth": 0,
}
WORKER_SETTINGS: dict[str, Any] = {
    "queues": QUEUES,
    "lease_s": 2,
    "heartbeat_s": 0.2,
    "maintenance_s": 0.1,
    "backoff_base_s": 0.2,
    "drain_s": 5,
}


def settings_env(settings: dict[str, Any]) -> dict[str, str]:
    return {f"JOBFLEET_{name.upper()}": str(value) for name, value in settings.items()}


class Worker(Proc):
    """A ``jobfleet worker`` process; ``id`` is known once it has announced itself."""

    id: str = ""


class Fleet:
    """Starts masters and workers for one test and kills them all at the end."""

    def __init__(self, redis_url: str, log_dir: Path, out_dir: Path, master_url: str) -> None:
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.out_dir = out_dir
        self.master_url = master_url
        self.procs: list[Proc] = []

    def _env(self, defaults: dict[str, Any], settings: dict[str, Any]) -> dict[str, str]:
        merged = {"redis_url": self.redis_url, "log_dir": self.log_dir, **defaults, **settings}
        return clean_env(settings_env(merged))

    def worker(
        self,
        wait: bool = True,
        env: dict[str, str] | None = None,
        master_url: str | None = None,
        **settings: Any,
    ) -> Worker:
        """Start ``jobfleet worker``; with ``wait``, return once the master lists it."""
        environ = self._env(WORKER_SETTINGS, settings) | (env or {})
        log = self.out_dir / f"worker-{len(self.procs)}.log"
        proc = Worker(jobfleet_argv("worker"), environ, log)
        self.procs.append(proc)
        if wait:
            proc.id = self.wait_registered(proc, master_url)
        return proc

    def wait_registered(self, proc: Proc, master_url: str | None = None) -> str:
        api = Api(master_url or self.master_url)

        def listed() -> str | None:
            if not proc.alive():
                raise AssertionError(f"worker exited early:\n{proc.tail()}")
            for entry in api.workers():
                if worker_pid(entry["id"]) == proc.pid:
                    found: str = entry["id"]
                    return found
            return None

        try:
            return wait_until(listed, 30, 0.05, f"worker pid {proc.pid} to register")
        finally:
            api.close()

    def master(self, **settings: Any) -> tuple[Proc, str]:
        """Start another ``jobfleet master`` on a free port; returns it and its URL."""
        port = free_port()
        environ = self._env(MASTER_SETTINGS, {"port": port, **settings})
        proc = Proc(jobfleet_argv("master"), environ, self.out_dir / f"master-{port}.log")
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_http(url, proc=proc)
        return proc, url

    def holder(self, worker_id: str) -> Worker:
        """The worker process whose id is ``worker_id``."""
        for proc in self.procs:
            if isinstance(proc, Worker) and proc.pid == worker_pid(worker_id):
                return proc
        raise AssertionError(f"no worker process of this test has id {worker_id}")

    def close(self, failed: bool) -> None:
        for proc in self.procs:
            proc.signal(signal.SIGCONT)  # a frozen process still dies of SIGKILL, but be tidy
            proc.kill()
            if failed:
                print(f"--- {proc.log_path.name} (pid {proc.pid}) ---\n{proc.tail()}")


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("joblogs")


@pytest.fixture(scope="session")
def master(
    redis_url: str, log_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One ``jobfleet master`` for the session, on a free port; yields its URL."""
    port = free_port()
    environ = clean_env(
        settings_env({"redis_url": redis_url, "log_dir": log_dir, "port": port, **MASTER_SETTINGS})
    )
    proc = Proc(jobfleet_argv("master"), environ, tmp_path_factory.mktemp("master") / "out.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url, proc=proc)
        yield url
    finally:
        proc.terminate()


@pytest.fixture
def flush(redis_url: str) -> None:
    """An empty Redis for the test (the master's script cache survives FLUSHALL)."""
    with redis.Redis.from_url(redis_url) as client:
        client.flushall()


@pytest.fixture
def api(master: str, flush: None) -> Iterator[Api]:
    client = Api(master)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def fleet(
    request: pytest.FixtureRequest,
    redis_url: str,
    log_dir: Path,
    master: str,
    flush: None,
    tmp_path: Path,
) -> Iterator[Fleet]:
    started = Fleet(redis_url, log_dir, tmp_path, master)
    try:
        yield started
    finally:
        started.close(request.node.stash.get(FAILED, True))
