"""The compose stack under test: its project, compose commands, containers and HTTP API.

Everything here is scoped to one compose project (``jfit<random>``): containers, volumes and
networks are found by the ``com.docker.compose.project`` label, never by name patterns, so
other projects on the same engine (a developer's ``jobfleet``, the chaos suite's ``jfchaos``)
are never touched.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from testcontainers.compose import DockerCompose

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "compose"
COMPOSE_FILE = "compose.yaml"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
SERVICES = ("redis", "master", "worker")
WORKERS = 3  # what the stack runs with (JOBFLEET_WORKERS); tests that scale put it back
TERMINAL = ("succeeded", "failed", "cancelled")
# Correctness deadlines, generous on purpose: the machine running this may be busy.
JOB_DEADLINE_S = 120.0
COMPOSE_TIMEOUT_S = 300.0

T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll ``check`` until it returns something other than None (or False); fail after
    ``timeout`` seconds saying ``what`` was awaited and the last exception, if any."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = check()
            if value is not None and value is not False:
                return value
        except (httpx.HTTPError, AssertionError) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} ({last!r})")
        time.sleep(every)


@dataclass
class Stack:
    """One running compose project plus clients for Docker and the master's API."""

    project: str
    port: int
    compose: DockerCompose
    docker: Any  # docker.DockerClient (the SDK is untyped)
    http: httpx.Client

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- docker compose -------------------------------------------------------------------
    def run_compose(self, *args: str, timeout: float = COMPOSE_TIMEOUT_S) -> str:
        """``docker compose <args>`` for this project (same files, env file and project name
        as the testcontainers fixture); fails the test with compose's own stderr."""
        cmd = [*self.compose.compose_command_property, *args]
        done = subprocess.run(
            cmd, cwd=COMPOSE_DIR, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-4000:]}"
            )
        return done.stdout

    def up(self, *extra: str) -> None:
        """``up -d --wait``: (re)create whatever is missing and wait until all are healthy."""
        self.run_compose("up", "-d", "--wait", *extra)
        self.wait_ready()

    # --- containers -----------------------------------------------------------------------
    def containers(self, service: str | None = None, *, running: bool = True) -> list[Any]:
        labels = [f"{PROJECT_LABEL}={self.project}"]
        if service is not None:
            labels.append(f"{SERVICE_LABEL}={service}")
        found = self.docker.containers.list(all=not running, filters={"label": labels})
        return sorted(found, key=lambda c: str(c.name))

    def service(self, service: str) -> Any:
        """The one running container of ``redis`` or ``master``."""
        found = self.containers(service)
        assert len(found) == 1, f"expected one {service} container, found {len(found)}"
        return found[0]

    def workers(self, *, running: bool = True) -> list[Any]:
        return self.containers("worker", running=running)

    def exec(self, container: Any, *cmd: str) -> str:
        """Run ``cmd`` in ``container`` (as its configured user); it must exit 0."""
        code, output = container.exec_run(list(cmd))
        text = output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output)
        assert code == 0, f"{cmd} in {container.name} exited {code}: {text[-2000:]}"
        return text

    def health(self, container: Any) -> str:
        container.reload()
        state: dict[str, Any] = container.attrs["State"]
        return str((state.get("Health") or {}).get("Status", "none"))

    # --- the master's API -----------------------------------------------------------------
    def wait_ready(self, timeout: float = JOB_DEADLINE_S) -> None:
        eventually(
            lambda: self.http.get("/readyz").status_code == 200, timeout, "master /readyz 200"
        )

    def submit(self, job_type: str, payload: dict[str, Any] | None = None, **extra: Any) -> str:
        body = {"type": job_type, "payload": payload or {}, **extra}
        response = self.http.post("/jobs", json=body)
        assert response.status_code == 202, f"submit {body}: {response.status_code} {response.text}"
        job_id: str = response.json()["id"]
        return job_id

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/jobs/{job_id}")
        assert response.status_code == 200, f"GET /jobs/{job_id}: {response.text}"
        record: dict[str, Any] = response.json()
        return record

    def logs(self, job_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/jobs/{job_id}/logs")
        assert response.status_code == 200, f"GET /jobs/{job_id}/logs: {response.text}"
        attempts: list[dict[str, Any]] = response.json()["attempts"]
        return attempts

    def wait_job(
        self, job_id: str, status: str = "succeeded", timeout: float = JOB_DEADLINE_S
    ) -> dict[str, Any]:
        """Wait until the job is terminal; it must have ended in ``status``."""

        def finished() -> dict[str, Any] | None:
            record = self.job(job_id)
            return record if record["status"] in TERMINAL else None

        record = eventually(finished, timeout, f"job {job_id} to finish")
        assert record["status"] == status, f"job {job_id} ended {record['status']}: {record}"
        return record

    def wait_running(self, job_id: str, timeout: float = JOB_DEADLINE_S) -> dict[str, Any]:
        def running() -> dict[str, Any] | None:
            record = self.job(job_id)
            return record if record["status"] == "running" and record["worker"] else None

        return eventually(running, timeout, f"job {job_id} to start", every=0.05)


def worker_hostname(worker_id: str) -> str:
    """Worker ids are ``<hostname>-<pid>-<rand>``; in compose the hostname is the short id."""
    return worker_id.rsplit("-", 2)[0]


def assert_logs_complete(stack: Stack, job_id: str) -> list[dict[str, Any]]:
    """The master serves the job's logs; its last attempt's log is complete and succeeded."""
    attempts = stack.logs(job_id)
    assert attempts, f"no logs served for {job_id}"
    last = attempts[-1]
    assert last["complete"] is True, f"last attempt log of {job_id} incomplete: {last}"
    assert last["lines"][0]["event"] == "start", last
    assert last["lines"][-1]["event"] == "end", last
    assert last["lines"][-1]["outcome"] == "succeeded", last
    return attempts
