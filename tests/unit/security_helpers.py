"""Helpers of the security tests: a master with API tokens, and Redis as compose runs it.

``compose_redis`` starts a local ``redis-server`` through the very entrypoint script and ACL
rules that ``compose/compose.yaml`` gives the redis container, so the unit suite checks the
real access rules without Docker.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cluster.auth import generate_token, hash_token
from tests.redis_server import free_port
from tests.unit.conftest import MASTER_SETTINGS, settings_env
from tests.unit.helpers import REPO_ROOT, Proc, clean_env, jobfleet_argv, wait_http, wait_until

COMPOSE_FILE = REPO_ROOT / "compose" / "compose.yaml"
APP_USER = "jobfleet"


@dataclass(frozen=True)
class Tokens:
    """One token per scope set the tests need, and their configured entries."""

    submit: str
    read: str
    admin: str
    everything: str

    @classmethod
    def new(cls) -> Tokens:
        return cls(generate_token(), generate_token(), generate_token(), generate_token())

    @property
    def entries(self) -> str:
        """``JOBFLEET_API_TOKENS`` for these tokens (comma and space separated on purpose)."""
        scopes = {
            self.submit: "submit",
            self.read: "read",
            self.admin: "admin",
            self.everything: "submit+read+admin",
        }
        return ", ".join(f"{hash_token(token)}:{scope}" for token, scope in scopes.items())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def master_process(out_dir: Path, redis_url: str, log_dir: Path, **settings: Any) -> Iterator[str]:
    """A ``jobfleet master`` on a free port with MASTER_SETTINGS + ``settings``; yields its URL."""
    port = free_port()
    merged = {"redis_url": redis_url, "log_dir": log_dir, "port": port, **MASTER_SETTINGS}
    proc = Proc(
        jobfleet_argv("master"),
        clean_env(settings_env({**merged, **settings})),
        out_dir / f"master-{port}.log",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url, proc=proc)
        yield url
    finally:
        proc.terminate()


@dataclass(frozen=True)
class ComposeRedis:
    """A redis-server started like the compose service, and its credentials."""

    port: int
    admin_password: str
    app_password: str
    acl_file: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def app_env(self) -> dict[str, str]:
        """What compose/.secrets/app.env gives master and workers."""
        return {"JOBFLEET_REDIS_USERNAME": APP_USER, "JOBFLEET_REDIS_PASSWORD": self.app_password}


def compose_redis_service() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    redis: dict[str, Any] = services["redis"]
    return redis


@contextmanager
def compose_redis(*extra: str) -> Iterator[ComposeRedis]:
    """redis-server through compose's entrypoint (``sh -c <script> redis-server <args>``)."""
    service = compose_redis_service()
    entrypoint: list[str] = service["entrypoint"]
    script = entrypoint[2].replace("$$", "$")  # compose's escaping of a literal `$`
    workdir = Path(tempfile.mkdtemp(prefix="jf-redis-acl-"))
    port = free_port()
    admin, app = secrets.token_hex(32), secrets.token_hex(32)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "REDISCLI_AUTH": admin,
        "JOBFLEET_REDIS_APP_PASSWORD_SHA256": hashlib.sha256(app.encode()).hexdigest(),
        "JOBFLEET_REDIS_APP_ACL": service["environment"]["JOBFLEET_REDIS_APP_ACL"],
        "JOBFLEET_REDIS_ACL_FILE": str(workdir / "users.acl"),
    }
    argv = ["/bin/sh", "-c", script, "redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(workdir), "--save", "", "--appendonly", "no", *extra]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # an unauthenticated PING is refused (-NOAUTH), so wait for the port to answer at all
        wait_until(lambda: _answers(port) or proc.poll() is not None, 10, 0.05, "redis-server")
        if proc.poll() is not None:
            output = proc.stdout.read().decode() if proc.stdout else ""
            raise AssertionError(f"redis-server from compose's entrypoint exited:\n{output}")
        yield ComposeRedis(port, admin, app, workdir / "users.acl")
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return bool(sock.recv(64))
    except OSError:
        return False
