"""The client side of a run: generate jobs from a seed and submit them over HTTP.

Each submission carries a unique ``Idempotency-Key`` and is retried (bounded in tries and
time) on timeouts, connection errors, 408/425/429 and 5xx. Like Jepsen's operation results,
every submission ends as exactly one of:

* ``ok``   - acknowledged with a 2xx and a job id;
* ``fail`` - definitely rejected (a non-retryable 4xx);
* ``info`` - indeterminate: retries exhausted after timeouts / resets / 5xx, so the job may
  or may not exist. The checker decides from the read-back.
"""

from __future__ import annotations

import ipaddress
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from chaos.history import Submit, now

DEFAULT_MIX: dict[str, float] = {"sleep": 0.4, "cpu": 0.2, "echo": 0.25, "fail": 0.15}
JOB_TYPES = frozenset(DEFAULT_MIX)
RETRYABLE_STATUS = frozenset({408, 425, 429})
SHORT_SLEEP_S = (0.05, 0.5)
LONG_SLEEP_S = (1.0, 3.0)
LONG_SLEEP_SHARE = 0.2
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class WorkloadError(ValueError):
    """Invalid workload parameters."""


def require_loopback(url: str) -> str:
    """Return *url* if it points at this machine; chaos traffic never leaves loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WorkloadError(f"not an http(s) URL: {url!r}")
    host = parts.hostname
    if host in LOOPBACK_NAMES:
        return url
    try:
        if ipaddress.ip_address(host).is_loopback:
            return url
    except ValueError:
        pass
    raise WorkloadError(f"refusing non-loopback target {host!r}: chaos runs are local only")


@dataclass(frozen=True)
class JobSpec:
    key: str
    type: str
    payload: dict[str, Any]
    max_attempts: int
    priority: int = 0

    def body(self) -> dict[str, Any]:
        body = {"type": self.type, "payload": self.payload, "max_attempts": self.max_attempts}
        if self.priority:
            body["priority"] = self.priority
        return body


def _payload(kind: str, rng: random.Random, index: int, max_attempts: int) -> dict[str, Any]:
    if kind == "sleep":
        # Mostly short; one in five holds its worker long enough that faults interrupt jobs.
        long_job = rng.random() < LONG_SLEEP_SHARE
        return {"seconds": round(rng.uniform(*LONG_SLEEP_S if long_job else SHORT_SLEEP_S), 4)}
    if kind == "cpu":
        return {"ms": rng.randint(5, 60)}
    if kind == "echo":
        return {"n": index, "blob": rng.getrandbits(32)}
    if kind == "fail":
        # Leave headroom: attempts lost to faults may also count against max_attempts.
        return {"times": rng.randint(1, max(1, max_attempts - 2))}
    raise WorkloadError(f"unknown job type in mix: {kind!r}")


def make_jobs(
    count: int,
    *,
    seed: int,
    run_id: str,
    mix: Mapping[str, float] | None = None,
    max_attempts: int = 5,
    tag: bool = True,
) -> list[JobSpec]:
    """*count* job specs; the same (seed, run_id, mix) always yields the same list.

    With *tag*, every payload also carries its submission's key (``"key"``; the built-in
    tasks ignore fields they do not read), so an indeterminate submission can be matched
    exactly to the job it may have created.
    """
    weights = dict(mix or DEFAULT_MIX)
    if count < 0 or max_attempts < 2:
        raise WorkloadError("count must be >= 0 and max_attempts >= 2")
    if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise WorkloadError(f"bad mix {weights!r}")
    kinds = sorted(weights)
    rng = random.Random(f"jobs:{seed}")
    specs = []
    for index in range(count):
        kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
        key = f"{run_id}-{index:06d}"
        payload = _payload(kind, rng, index, max_attempts)
        if tag:
            payload["key"] = key
        specs.append(JobSpec(key, kind, payload, max_attempts))
    return specs


@dataclass(frozen=True)
class SubmitPolicy:
    request_timeout_s: float = 5.0
    max_tries: int = 8
    retry_budget_s: float = 30.0
    backoff_base_s: float = 0.2
    backoff_max_s: float = 3.0


def make_client(
    url: str, *, timeout_s: float = 5.0, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An HTTP client for the master; proxies from the environment are ignored."""
    return httpx.Client(
        base_url=url,
        timeout=httpx.Timeout(timeout_s, connect=min(2.0, timeout_s)),
        transport=transport,
        trust_env=False,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
    )


@dataclass
class _Attempt:
    tries: int = 0
    status: int | None = None
    error: str | None = None


class Submitter:
    """Submits one job with bounded retries and returns its ``Submit`` event."""

    def __init__(
        self,
        client: httpx.Client,
        policy: SubmitPolicy | None = None,
        *,
        origin: str = "workload",
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.client = client
        self.policy = policy or SubmitPolicy()
        self.origin = origin
        self._sleep = sleep
        self._jitter = random.Random()

    def _event(
        self, spec: JobSpec, t0: float, outcome: str, att: _Attempt, job_id: str | None = None
    ) -> Submit:
        return Submit(
            key=spec.key,
            job_id=job_id,
            outcome=outcome,
            t0=t0,
            t1=now(),
            type=spec.type,
            error=att.error,
            status_code=att.status,
            tries=att.tries,
            origin=self.origin,
            payload=spec.payload,
            max_attempts=spec.max_attempts,
        )

    def _post(self, spec: JobSpec, att: _Attempt) -> httpx.Response | None:
        att.tries += 1
        try:
            return self.client.post(
                "/jobs",
                json=spec.body(),
                headers={"Idempotency-Key": spec.key},
                timeout=self.policy.request_timeout_s,
            )
        except httpx.TimeoutException as exc:
            att.status, att.error = None, f"timeout: {type(exc).__name__}"
        except httpx.TransportError as exc:
            att.status, att.error = None, f"transport: {type(exc).__name__}: {exc}"[:300]
        return None

    def submit(self, spec: JobSpec, stop: threading.Event | None = None) -> Submit:
        """Never raises: an unexpected error becomes an ``info`` (indeterminate) event."""
        t0 = now()
        try:
            return self._submit(spec, stop, t0)
        except Exception as exc:  # a history must record every submission, whatever happens
            return self._event(spec, t0, "info", _Attempt(1, None, f"client error: {exc!r}"))

    def _submit(self, spec: JobSpec, stop: threading.Event | None, t0: float) -> Submit:
        policy, att = self.policy, _Attempt()
        deadline = t0 + policy.retry_budget_s
        while True:
            resp = self._post(spec, att)
            if resp is not None:
                att.status = resp.status_code
                if resp.is_success:
                    job_id = _job_id(resp)
                    if job_id is not None:
                        att.error = None
                        return self._event(spec, t0, "ok", att, job_id)
                    att.error = "2xx without a job id"
                elif resp.status_code < 500 and resp.status_code not in RETRYABLE_STATUS:
                    att.error = f"http {resp.status_code}: {resp.text[:200]}"
                    return self._event(spec, t0, "fail", att)
                else:
                    att.error = f"http {resp.status_code}"
            delay = min(policy.backoff_max_s, policy.backoff_base_s * 2 ** (att.tries - 1))
            delay *= 0.5 + self._jitter.random()
            stopping = stop is not None and stop.is_set()
            if att.tries >= policy.max_tries or now() + delay >= deadline or stopping:
                return self._event(spec, t0, "info", att)
            self._sleep(delay)


def _job_id(resp: httpx.Response) -> str | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    value = body.get("id") if isinstance(body, dict) else None
    return str(value) if value is not None else None


@dataclass
class WorkloadStats:
    issued: int = 0
    skipped: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    t_start: float = 0.0
    t_end: float = 0.0


class Workload:
    """Issue specs at a fixed *rate* with at most *concurrency* submissions in flight,
    stopping early after *max_duration_s* or when *stop* is set."""

    def __init__(
        self,
        specs: Sequence[JobSpec],
        submitter: Submitter,
        sink: Callable[[Submit], object],
        *,
        rate: float,
        concurrency: int = 16,
        max_duration_s: float = 600.0,
    ) -> None:
        if rate <= 0 or concurrency < 1 or max_duration_s <= 0:
            raise WorkloadError("rate, concurrency and max_duration_s must be positive")
        self.specs = list(specs)
        self.submitter = submitter
        self.sink = sink
        self.rate = rate
        self.concurrency = concurrency
        self.max_duration_s = max_duration_s

    def run(self, stop: threading.Event) -> WorkloadStats:
        stats = WorkloadStats(t_start=now())
        slots = threading.Semaphore(self.concurrency)
        lock = threading.Lock()

        def done(fut: Future[Submit]) -> None:
            slots.release()
            event = fut.result()
            self.sink(event)
            with lock:
                stats.outcomes[event.outcome] = stats.outcomes.get(event.outcome, 0) + 1

        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="chaos-submit") as pool:
            for index, spec in enumerate(self.specs):
                due = stats.t_start + index / self.rate
                if stop.wait(max(0.0, due - now())) or now() - stats.t_start > self.max_duration_s:
                    break
                while not slots.acquire(timeout=0.2):
                    if stop.is_set():
                        break
                if stop.is_set():
                    break
                stats.issued += 1
                pool.submit(self.submitter.submit, spec, stop).add_done_callback(done)
        stats.skipped = len(self.specs) - stats.issued
        stats.t_end = now()
        return stats
