"""What the benchmark jobs do, shared by every system's task module.

Each job talks to the benchmark's own keys on the same Redis, with one RPUSH per event, so
recording costs every system the same single round trip:

* ``bench:ready``  -- ``"<pid>"`` pushed once by each worker process when it can take jobs;
* ``bench:done``   -- ``"<sent> <started>"`` pushed by the no-op job (``sent`` is the enqueue
  wall time passed as the job's argument, ``started`` the wall time the job began);
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
from typing import Any

import redis

ENV_REDIS_URL = "BENCH_REDIS_URL"
ENV_OPTIONS = "BENCH_OPTIONS"
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
    client().rpush(DONE_KEY, done_entry(sent))


def sleeper(token: str, seconds: float) -> None:
    """The recovery job: record its start (and who runs it), sleep, record its end."""
    r = client()
    r.rpush(STARTS_KEY, start_entry(token))
    time.sleep(seconds)
    r.rpush(SLEPT_KEY, token)
