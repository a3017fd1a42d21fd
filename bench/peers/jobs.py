"""What the benchmark jobs do, shared by every system's task module.

Each job records its events on the benchmark's own keys of the same Redis, one RPUSH per
event, except the no-op job's start: by default (``BENCH_DONE_FILE`` set by the harness) that
is one ``write`` of a line to a file shared by every worker process (O_APPEND: lines never
interleave). A Redis round trip through redis-py costs a worker 45 us (sync client) to 140 us
(asyncio client) of CPU, more than a fast queue's whole per-job work, so with it the
throughput phase measured the client library more than the queue; the file costs every system
the same few microseconds. ``BENCH_RECORD=redis`` brings the RPUSH back for comparison.

* ``bench:ready``  -- ``"<pid>"`` pushed once by each worker process when it can take jobs;
* ``bench:done``   -- ``"<sent> <started>"`` pushed (or written to the file) by the no-op job
  (``sent`` is the enqueue wall time passed as the job's argument, ``started`` the wall time
  the job began);
* ``bench:starts`` -- ``"<token> <pid> <started>"`` pushed when a sleeper job begins;
* ``bench:slept``  -- ``"<token>"`` pushed when a sleeper job ends.

Worker processes find the server in ``BENCH_REDIS_URL`` and the system's options (JSON) in
``BENCH_OPTIONS``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, cast

import redis

ENV_REDIS_URL = "BENCH_REDIS_URL"
ENV_OPTIONS = "BENCH_OPTIONS"
ENV_DONE_FILE = "BENCH_DONE_FILE"  # where no-op jobs record their start ('' or unset: Redis)
READY_KEY = "bench:ready"
DONE_KEY = "bench:done"
STARTS_KEY = "bench:starts"
SLEPT_KEY = "bench:slept"

_lock = threading.Lock()
_client: redis.Redis | None = None
_client_pid = 0


def redis_url() -> str:
    return os.environ[ENV_REDIS_URL]


def worker_options() -> dict[str, Any]:
    """The peer's options as passed by the harness (empty outside a benchmark worker)."""
    options: dict[str, Any] = json.loads(os.environ.get(ENV_OPTIONS, "{}"))
    return options


def client() -> redis.Redis:
    """One client per process (re-created after a fork), shared by its threads."""
    global _client, _client_pid  # noqa: PLW0603
    pid = os.getpid()
    if _client is None or _client_pid != pid:
        with _lock:
            if _client is None or _client_pid != pid:
                _client = redis.Redis.from_url(redis_url())
                _client_pid = pid
    return _client


def done_entry(sent: float) -> str:
    return f"{sent!r} {time.time()!r}"


def start_entry(token: str) -> str:
    return f"{token} {os.getpid()} {time.time()!r}"


def mark_ready() -> None:
    client().rpush(READY_KEY, str(os.getpid()))


def noop(sent: float) -> None:
    """The no-op job: record when it started."""
    fd = _done_file()
    if fd is None:
        client().rpush(DONE_KEY, done_entry(sent))
    else:
        os.write(fd, f"{done_entry(sent)}\n".encode())


def records_to_file() -> bool:
    """Whether no-op jobs record to the shared file (an async job may then call :func:`noop`:
    one small write does not block its loop any longer than a Redis command would)."""
    return _done_file() is not None


_done_fd: int | None = None
_done_fd_pid = 0


def _done_file() -> int | None:
    """This process' descriptor of the shared done file (re-opened after a fork)."""
    global _done_fd, _done_fd_pid  # noqa: PLW0603
    path = os.environ.get(ENV_DONE_FILE)
    if not path:
        return None
    if _done_fd is None or _done_fd_pid != os.getpid():
        _done_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _done_fd_pid = os.getpid()
    return _done_fd


class DoneLog:
    """The harness' side: the no-op jobs' ``(sent, started)`` records, from the file when the
    workers were given one, else from the ``bench:done`` list."""

    def __init__(self, r: redis.Redis, path: str | None) -> None:
        self.r = r
        self.path = path

    def count(self) -> int:
        if self.path is None:
            return cast(int, self.r.llen(DONE_KEY))
        try:
            with open(self.path, "rb") as file:
                return file.read().count(b"\n")
        except FileNotFoundError:
            return 0

    def pairs(self) -> list[tuple[float, float]]:
        if self.path is None:
            lines = cast(list[bytes], self.r.lrange(DONE_KEY, 0, -1))
        else:
            try:
                with open(self.path, "rb") as file:
                    lines = file.read().splitlines()
            except FileNotFoundError:
                lines = []
        pairs = []
        for line in lines:
            sent, started = line.split()
            pairs.append((float(sent), float(started)))
        return pairs


def sleeper(token: str, seconds: float) -> None:
    """The recovery job: record its start (and who runs it), sleep, record its end."""
    r = client()
    r.rpush(STARTS_KEY, start_entry(token))
    time.sleep(seconds)
    r.rpush(SLEPT_KEY, token)
