"""The workload: seeded job generation and the ok / fail / info submission outcomes."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest

from chaos.history import Submit
from chaos.workload import (
    JobSpec,
    SubmitPolicy,
    Submitter,
    Workload,
    WorkloadError,
    make_client,
    make_jobs,
    require_loopback,
)

FAST = SubmitPolicy(request_timeout_s=1.0, max_tries=4, retry_budget_s=5.0, backoff_base_s=0.0)
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> httpx.Client:
    return make_client("http://127.0.0.1:8000", transport=httpx.MockTransport(handler))


def scripted(*steps: object) -> tuple[Handler, list[httpx.Request]]:
    """Each step: an int status (202 gives a job id), or an exception to raise."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = steps[min(len(seen), len(steps)) - 1]
        if isinstance(step, Exception):
            raise step
        assert isinstance(step, int)
        body = {"id": "f" * 32, "status": "queued"} if step < 300 else {"detail": "no"}
        return httpx.Response(step, json=body)

    return handler, seen


SPEC = JobSpec("run-1-000001", "sleep", {"seconds": 0.1, "key": "run-1-000001"}, 5)


def submit_with(*steps: object) -> tuple[Submit, list[httpx.Request]]:
    handler, seen = scripted(*steps)
    event = Submitter(client(handler), FAST, sleep=lambda _s: None).submit(SPEC)
    return event, seen


def test_acknowledged_submission_is_ok() -> None:
    event, seen = submit_with(202)
    assert (event.outcome, event.job_id, event.tries, event.status_code) == ("ok", "f" * 32, 1, 202)
    assert seen[0].headers["Idempotency-Key"] == SPEC.key
    assert event.payload == SPEC.payload and event.t1 >= event.t0


def test_retries_reuse_the_idempotency_key_until_acknowledged() -> None:
    read_timeout = httpx.ReadTimeout("slow")
    event, seen = submit_with(read_timeout, 503, httpx.ConnectError("refused"), 202)
    assert event.outcome == "ok" and event.tries == 4
    assert {r.headers["Idempotency-Key"] for r in seen} == {SPEC.key}


def test_definite_rejection_is_fail_without_retry() -> None:
    event, seen = submit_with(422)
    assert (event.outcome, event.job_id, event.status_code, len(seen)) == ("fail", None, 422, 1)


def test_exhausted_retries_are_indeterminate() -> None:
    event, seen = submit_with(httpx.ReadTimeout("slow"))
    assert event.outcome == "info" and event.job_id is None and len(seen) == FAST.max_tries
    assert event.error is not None and event.error.startswith("timeout")
    event, _ = submit_with(500)
    assert event.outcome == "info" and event.status_code == 500
    event, _ = submit_with(429)
    assert event.outcome == "info"


def test_ack_without_an_id_is_not_ok() -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json={"status": "queued"})

    event = Submitter(client(handler), FAST, sleep=lambda _s: None).submit(SPEC)
    assert event.outcome == "info"


def test_unexpected_client_error_still_yields_an_event() -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        raise RuntimeError("boom")

    event = Submitter(client(handler), FAST, sleep=lambda _s: None).submit(SPEC)
    assert event.outcome == "info" and "boom" in (event.error or "")


def test_job_generation_is_seeded() -> None:
    first = make_jobs(300, seed=5, run_id="r")
    assert first == make_jobs(300, seed=5, run_id="r")
    assert first != make_jobs(300, seed=6, run_id="r")
    assert len({spec.key for spec in first}) == 300
    assert {spec.type for spec in first} == {"sleep", "cpu", "echo", "fail"}
    for spec in first:
        assert spec.payload["key"] == spec.key
        if spec.type == "fail":
            assert 1 <= spec.payload["times"] < spec.max_attempts
        if spec.type == "sleep":
            assert 0.05 <= spec.payload["seconds"] <= 3.0
    sleeps = [s.payload["seconds"] for s in first if s.type == "sleep"]
    assert sum(1 for x in sleeps if x > 0.5) < len(sleeps) / 2  # mostly short
    untagged = make_jobs(5, seed=5, run_id="r", mix={"cpu": 1}, tag=False)
    assert all(set(s.payload) == {"ms"} for s in untagged)
    with pytest.raises(WorkloadError):
        make_jobs(3, seed=1, run_id="r", mix={"nope": 1})


def test_only_loopback_targets() -> None:
    for url in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        assert require_loopback(url) == url
    for url in ("http://10.0.0.5:8000", "http://example.org", "ftp://127.0.0.1", "nonsense"):
        with pytest.raises(WorkloadError):
            require_loopback(url)


def test_workload_is_rate_limited_and_records_everything() -> None:
    handler, seen = scripted(202)
    events: list[Submit] = []
    lock = threading.Lock()

    def sink(event: Submit) -> None:
        with lock:
            events.append(event)

    specs = make_jobs(20, seed=1, run_id="r")
    load = Workload(specs, Submitter(client(handler), FAST), sink, rate=100.0, concurrency=4)
    stats = load.run(threading.Event())
    assert stats.issued == 20 and stats.skipped == 0 and stats.outcomes == {"ok": 20}
    assert sorted(e.key for e in events) == sorted(s.key for s in specs)
    assert stats.t_end - stats.t_start >= 19 / 100.0
    assert len(seen) == 20


def test_workload_stops_when_told() -> None:
    handler, _ = scripted(202)
    stop = threading.Event()
    stop.set()
    load = Workload(
        make_jobs(10, seed=1, run_id="r"),
        Submitter(client(handler), FAST),
        lambda _e: None,
        rate=1.0,
    )
    stats = load.run(stop)
    assert stats.issued == 0 and stats.skipped == 10
