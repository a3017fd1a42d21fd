"""The cluster's own containers, found through docker-compose labels (docker SDK).

Only containers labelled ``com.docker.compose.project=<project>`` are ever touched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
WORKER_NAME_ENV = "JOBFLEET_WORKER_NAME"
ZERO_TIME_PREFIX = "0001-01-01"
SERVICES = ("redis", "master", "worker")


class FaultError(RuntimeError):
    """A fault could not be injected (missing container, docker error...)."""


def docker_time(value: object) -> float | None:
    """Epoch seconds for a docker RFC 3339 timestamp (nanoseconds allowed); None if unset."""
    if not isinstance(value, str) or not value or value.startswith(ZERO_TIME_PREFIX):
        return None
    text = value.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Identity:
    """Everything that may name a container in the master's ``worker`` field."""

    name: str
    id: str
    short_id: str
    hostname: str
    service: str
    worker_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class State:
    status: str
    started_at: float | None
    finished_at: float | None
    restart_count: int
    oom_killed: bool
    exit_code: int | None


class Cluster:
    """Docker-side handle on one compose project."""

    def __init__(
        self,
        project: str,
        client: Any | None = None,
        *,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if client is None:
            import docker  # lazy: `chaos check` and the unit tests need no docker

            client = docker.from_env()
        self.project = project
        self.client: Any = client
        self._sleep = sleep
        self._lock = threading.Lock()
        # container id -> {network name: aliases} for networks we disconnected
        self.disconnected: dict[str, dict[str, list[str]]] = {}

    # --- discovery -------------------------------------------------------------------------
    def containers(self, service: str | None = None, *, running: bool = False) -> list[Any]:
        labels = [f"{PROJECT_LABEL}={self.project}"]
        if service is not None:
            labels.append(f"{SERVICE_LABEL}={service}")
        found = self.client.containers.list(all=True, filters={"label": labels})
        out = [c for c in found if not running or _status(c) == "running"]
        return sorted(out, key=lambda c: str(c.name))

    def service(self, service: str) -> Any:
        """The (first) container of a single-container service such as redis or master."""
        found = self.containers(service)
        if not found:
            raise FaultError(f"no container for service {service!r} in project {self.project!r}")
        running = [c for c in found if _status(c) == "running"]
        return (running or found)[0]

    def workers(self, *, running: bool = True) -> list[Any]:
        return self.containers("worker", running=running)

    @staticmethod
    def identity(container: Any) -> Identity:
        attrs: dict[str, Any] = container.attrs
        config: dict[str, Any] = attrs.get("Config") or {}
        labels: dict[str, str] = config.get("Labels") or {}
        env: list[str] = config.get("Env") or []
        worker_name = next(
            (e.split("=", 1)[1] for e in env if e.startswith(f"{WORKER_NAME_ENV}=")), None
        )
        return Identity(
            name=str(container.name),
            id=str(container.id),
            short_id=str(container.id)[:12],
            hostname=str(config.get("Hostname") or ""),
            service=labels.get(SERVICE_LABEL, ""),
            worker_name=worker_name or None,
        )

    @staticmethod
    def state(container: Any) -> State:
        container.reload()
        attrs: dict[str, Any] = container.attrs
        st: dict[str, Any] = attrs.get("State") or {}
        code = st.get("ExitCode")
        return State(
            status=str(st.get("Status") or container.status),
            started_at=docker_time(st.get("StartedAt")),
            finished_at=docker_time(st.get("FinishedAt")),
            restart_count=int(attrs.get("RestartCount") or 0),
            oom_killed=bool(st.get("OOMKilled")),
            exit_code=int(code) if isinstance(code, int) else None,
        )

    @staticmethod
    def restart_policy(container: Any) -> str:
        attrs: dict[str, Any] = container.attrs
        policy: dict[str, Any] = (attrs.get("HostConfig") or {}).get("RestartPolicy") or {}
        return str(policy.get("Name") or "no")

    # --- actions ---------------------------------------------------------------------------
    def wait_status(self, container: Any, want: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if _status(container) == want:
                return True
            if time.monotonic() >= deadline:
                return False
            self._sleep(0.2)

    def ensure_running(self, container: Any, timeout: float = 30.0) -> str:
        """Unpause / start *container* if needed; returns what was done."""
        status = _status(container)
        action = "none"
        if status == "paused":
            container.unpause()
            action = "unpaused"
        elif status == "restarting":
            action = "restarting"  # the restart policy is on it; just wait
        elif status != "running":
            container.start()
            action = "started"
        if not self.wait_status(container, "running", timeout):
            raise FaultError(f"{container.name} not running {timeout:.0f}s after {action}")
        return action

    def networks_of(self, container: Any) -> dict[str, list[str]]:
        container.reload()
        attrs: dict[str, Any] = container.attrs
        nets: dict[str, Any] = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
        short = str(container.id)[:12]
        return {
            str(name): [a for a in (cfg or {}).get("Aliases") or [] if a != short]
            for name, cfg in nets.items()
        }

    def disconnect(self, container: Any) -> dict[str, list[str]]:
        nets = self.networks_of(container)
        with self._lock:
            self.disconnected.setdefault(str(container.id), {}).update(nets)
        for name in nets:
            self.client.networks.get(name).disconnect(container, force=True)
        return nets

    def reconnect(self, container: Any) -> list[str]:
        with self._lock:
            nets = self.disconnected.pop(str(container.id), {})
        attached = set(self.networks_of(container))
        done = []
        for name, aliases in nets.items():
            if name not in attached:
                self.client.networks.get(name).connect(container, aliases=aliases or None)
                done.append(name)
        return done

    def heal(self, timeout: float = 30.0, services: tuple[str, ...] = SERVICES) -> dict[str, str]:
        """Bring every container of the cluster's services back: reconnect, unpause, start."""
        actions: dict[str, str] = {}
        for container in [c for svc in services for c in self.containers(svc)]:
            name = str(container.name)
            try:
                nets = self.reconnect(container) if str(container.id) in self.disconnected else []
                action = self.ensure_running(container, timeout)
                actions[name] = action + (f"+reconnected {nets}" if nets else "")
            except Exception as exc:  # heal must try every container, whatever fails
                actions[name] = f"error: {exc}"
        return actions


def _status(container: Any) -> str:
    container.reload()
    return str(container.status)
