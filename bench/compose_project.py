"""The throwaway Compose project of the compose phase (see ``bench.compose_shape``): its
settings, start-up with a fresh API token on a free port, and always ``down -v``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.redis_server import find_free_port

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "compose" / "compose.yaml"
DOCKER_CONFIG = ROOT / ".docker"
SECRETS = (ROOT / "compose" / ".secrets" / "app.env", ROOT / "compose" / ".secrets" / "redis.env")
IMAGES = ("jobfleet-app:latest", "jobfleet-redis:latest")

Json = dict[str, Any]


@dataclass
class ComposeConfig:
    jobs: int = 20_000
    batch: int = 1000
    connections: int = 32  # concurrent POST /jobs clients
    batch_connections: int = 1  # concurrent POST /jobs/batch clients
    workers: int = 3
    #: JOBFLEET_CONCURRENCY of each worker; None: the compose default (1)
    concurrency: int | None = None
    #: JOBFLEET_SUBMIT_RATE: 0 turns the per-token limit (2000 jobs/s by default) off, so that
    #: the API's capacity is measured rather than the policy
    submit_rate: float = 0.0
    #: JOBFLEET_REDIS_FSYNC; None: the compose default (always)
    fsync: str | None = None
    latency_rate: float = 50.0
    latency_seconds: float = 10.0
    latency_warmup_s: float = 1.0
    drain_timeout_s: float = 600.0
    up_timeout_s: float = 180.0
    port: int = 18000
    mem_interval_s: float = 0.25


def log_stderr(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True, file=sys.stderr)


# --- the compose project --------------------------------------------------------------------
def unavailable_reason() -> str | None:
    """Why the compose cluster cannot be started here, or None."""
    if shutil.which("docker") is None:
        return "docker is not on PATH"
    if not (DOCKER_CONFIG / "cli-plugins" / "docker-compose").exists():
        return f"Compose v2 is not installed in {DOCKER_CONFIG} (run: nox -s images)"
    missing = [str(p) for p in SECRETS if not p.exists()]
    if missing:
        return f"missing {', '.join(missing)} (run: tools/ensure_secrets.sh)"
    probe = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", *IMAGES],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"images {', '.join(IMAGES)} not built (run: nox -s images)"
    return None


class ComposeProject:
    """One throwaway Compose project; a context manager that always ends with ``down -v``."""

    def __init__(self, cfg: ComposeConfig, log: Callable[[str], None] = log_stderr) -> None:
        from cluster.auth import generate_token, hash_token

        self.cfg = cfg
        self.log = log
        self.name = f"jfbench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.port = find_free_port(cfg.port)
        self.token = generate_token()
        self.env = dict(os.environ)
        self.env.update(
            {
                "DOCKER_CONFIG": str(DOCKER_CONFIG),
                "COMPOSE_BAKE": "false",
                "COMPOSE_PROFILES": "",  # no optional services
                "JOBFLEET_PORT": str(self.port),
                "JOBFLEET_API_TOKENS": f"{hash_token(self.token)}:submit+read",
                "JOBFLEET_WORKERS": str(cfg.workers),
                "JOBFLEET_SUBMIT_RATE": f"{cfg.submit_rate:g}",
                "JOBFLEET_MAX_QUEUE_DEPTH": str(max(100_000, 2 * cfg.jobs)),
            }
        )
        if cfg.concurrency is not None:
            self.env["JOBFLEET_CONCURRENCY"] = str(cfg.concurrency)
        if cfg.fsync is not None:
            self.env["JOBFLEET_REDIS_FSYNC"] = cfg.fsync
        self.url = f"http://127.0.0.1:{self.port}"
        self.started = False

    def compose(self, *args: str, timeout: float = 120.0, check: bool = True) -> str:
        argv = ["docker", "compose", "-f", str(COMPOSE_FILE), "-p", self.name, *args]
        done = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv[2:])} exited {done.returncode}: {done.stderr.strip()[-2000:]}"
            )
        return done.stdout

    def up(self) -> None:
        self.started = True  # from here on, `down` must run whatever happens
        self.log(f"compose: up {self.name} (master on {self.url}) ...")
        self.compose(
            "up", "-d", "--wait", "--wait-timeout", str(int(self.cfg.up_timeout_s)),
            "--no-build", "--pull", "never",
            timeout=self.cfg.up_timeout_s + 60,
        )  # fmt: skip

    def down(self) -> None:
        if not self.started:
            return
        self.log(f"compose: down -v {self.name}")
        try:
            self.compose("down", "-v", "--remove-orphans", "--timeout", "10", timeout=180)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            self.log(f"compose: down failed ({exc}); remove project {self.name} by hand")

    def container_ids(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).split()

    def pause_workers(self) -> None:
        self.compose("pause", "worker")

    def unpause_workers(self) -> None:
        self.compose("unpause", "worker")

    def __enter__(self) -> ComposeProject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()


def inspect(ids: list[str]) -> list[Json]:
    out = subprocess.run(
        ["docker", "inspect", *ids], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    data: list[Json] = json.loads(out)
    return data
