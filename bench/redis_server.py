"""Start and stop a throwaway ``redis-server`` on a loopback port.

Every benchmark phase gets a fresh server (no persistence, empty keyspace) so no system sees
another's leftovers. The server is always torn down: use :class:`RedisServer` as a context
manager.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from bench.procs import die_with_parent

LOOPBACK = "127.0.0.1"


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing listens on ``host:port`` (and we could bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_free_port(start: int, tries: int = 50) -> int:
    """The first free loopback port in ``[start, start + tries)``."""
    for port in range(start, start + tries):
        if port_is_free(port):
            return port
    raise RuntimeError(f"no free loopback port in {start}..{start + tries - 1}")


def redis_server_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise RuntimeError("redis-server is not on PATH (Debian: apt-get install redis-server)")
    return path


def redis_server_version() -> str:
    out = subprocess.run(
        [redis_server_binary(), "--version"], capture_output=True, text=True, check=True
    ).stdout
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    return out.strip()


class RedisServer:
    """One ``redis-server`` process bound to 127.0.0.1, with its own temporary directory."""

    def __init__(self, port: int = 6390, durable: bool = False, start_timeout_s: float = 10.0):
        self.requested_port = port
        self.port = port
        self.durable = durable
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host=LOOPBACK, port=self.port, db=0)

    def start(self) -> RedisServer:
        if self._proc is not None:
            raise RuntimeError("redis-server already started")
        self.port = find_free_port(self.requested_port)
        self._dir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "everysec"]
            if self.durable
            else ["--save", "", "--appendonly", "no"]
        )
        argv = [
            redis_server_binary(),
            "--bind", LOOPBACK,
            "--port", str(self.port),
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--dir", str(self._dir),
            "--logfile", str(self._dir / "redis.log"),
            "--databases", "1",
            *persistence,
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 -- started before any thread
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        client = self.client()
        try:
            while True:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited early (code {self._proc.returncode})")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not answer PING within {self.start_timeout_s}s"
                    )
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()  # the data is thrown away anyway
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
