"""Shared helpers of the unit suite: deadlines, real processes, a restartable redis-server."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.redis_server import free_port

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_until(
    check: Callable[[], T | None],
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last value {last!r}")


def jobfleet_argv(command: str) -> list[str]:
    """The installed ``jobfleet`` console script, run directly so its pid is the process pid."""
    script = Path(sys.executable).parent / "jobfleet"
    if script.exists():
        return [str(script), command]
    return [sys.executable, "-m", "cluster.cli", command]


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process' environment without any stray JOBFLEET_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBFLEET_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Proc:
    """A real child process (master or worker) with its output in a file."""

    def __init__(self, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as out:
            self.popen = subprocess.Popen(
                argv,
                env=dict(env),
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL and reap (works on a stopped process too); safe to call twice."""
        if self.alive():
            self.popen.kill()
        self.popen.wait(timeout=10)

    def terminate(self, grace: float = 10.0) -> None:
        if self.alive():
            self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
        self.kill()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def worker_pid(worker_id: str) -> int:
    """The pid inside a worker id ``<host>-<pid>-<rand>`` (the host may contain dashes)."""
    return int(worker_id.rsplit("-", 2)[1])


def wait_http(url: str, timeout: float = 20.0, proc: Proc | None = None) -> None:
    """Wait until ``url/healthz`` answers 200 (fail early if ``proc`` died)."""

    def up() -> bool:
        if proc is not None and not proc.alive():
            raise AssertionError(f"process exited early:\n{proc.tail()}")
        try:
            return httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout, 0.1, f"{url}/healthz")


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisProcess:
    """A redis-server with append-only persistence that can be killed and restarted in place."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server")
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="jf-redis-aof-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--save", "", "--appendonly", "yes",
                "--appendfsync", "always"]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: ping(self.port), 10, 0.05, f"redis-server on port {self.port}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def history(job: dict[str, Any]) -> list[str]:
    """The outcomes of a job record's attempts, in order."""
    return [a["outcome"] for a in job["history"]]


class Api:
    """The master's HTTP API over httpx, with the few shortcuts the tests repeat."""

    def __init__(self, url: str, patient: bool = False) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=15.0)
        self.patient = patient  # honour 503 + Retry-After (the job store is coming back)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a patient client retries a 503 for up to ten seconds."""
        deadline = time.monotonic() + 10
        while True:
            response = self.http.request(method, path, **kwargs)
            if not self.patient or response.status_code != 503 or time.monotonic() > deadline:
                return response
            time.sleep(0.1)

    def close(self) -> None:
        self.http.close()

    def submit(self, job_type: str, payload: dict[str, Any] | None = None, **spec: Any) -> str:
        """POST /jobs; asserts 202 and returns the id."""
        body = {"type": job_type, "payload": payload or {}, **spec}
        headers = {"Idempotency-Key": os.urandom(8).hex()}  # a retried POST stays one job
        response = self.request("POST", "/jobs", json=body, headers=headers)
        assert response.status_code == 202, response.text
        job_id: str = response.json()["id"]
        return job_id

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.request("GET", f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        record: dict[str, Any] = response.json()
        return record

    def wait_status(self, job_id: str, *statuses: str, timeout: float = 20.0) -> dict[str, Any]:
        """Wait until the job is in one of ``statuses``; returns its record."""

        def reached() -> dict[str, Any] | None:
            record = self.job(job_id)
            return record if record["status"] in statuses else None

        return wait_until(reached, timeout, 0.05, f"job {job_id} to be {'/'.join(statuses)}")

    def queue_counts(self, name: str = "default") -> dict[str, Any]:
        response = self.request("GET", "/queues")
        assert response.status_code == 200, response.text
        for queue in response.json()["queues"]:
            if queue["name"] == name:
                found: dict[str, Any] = queue
                return found
        raise AssertionError(f"queue {name} not in {response.text}")

    def workers(self) -> list[dict[str, Any]]:
        response = self.request("GET", "/workers")
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["workers"]
        return found
