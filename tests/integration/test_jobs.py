"""Jobs through the real stack: completion, logs on the shared volume, bad input, and a worker
SIGKILLed in the middle of a job."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.stack import (
    WORKERS,
    Stack,
    assert_logs_complete,
    eventually,
    worker_hostname,
)

pytestmark = pytest.mark.integration

LOG_DIR = "/data/logs"
MAX_PAYLOAD = 65_536  # Settings.max_payload_bytes (default; compose does not change it)
MAX_BODY = 1_048_576  # Settings.max_body_bytes
KILLED_SLEEP_S = 4.0


def _worker_of(stack: Stack, worker_id: str) -> Any | None:
    host = worker_hostname(worker_id)
    return next((c for c in stack.workers() if c.attrs["Config"]["Hostname"] == host), None)


def _logs_mount(container: Any) -> dict[str, Any]:
    mounts = [m for m in container.attrs["Mounts"] if m["Destination"] == LOG_DIR]
    assert len(mounts) == 1, (container.name, container.attrs["Mounts"])
    mount: dict[str, Any] = mounts[0]
    return mount


def test_jobs_complete_with_logs_on_shared_volume(stack: Stack) -> None:
    job_ids = [
        stack.submit("echo", {"hello": "world"}),
        stack.submit("sleep", {"seconds": 0.2}),
        stack.submit("cpu", {"ms": 20}),
    ]
    batch = stack.http.post(
        "/jobs/batch", json={"jobs": [{"type": "echo", "payload": {"n": n}} for n in range(3)]}
    )
    assert batch.status_code == 202, batch.text
    job_ids += batch.json()["ids"]

    workers = stack.workers()
    for job_id in job_ids:
        record = stack.wait_job(job_id)
        assert record["history"][-1]["outcome"] == "succeeded", record
        # The file is on the volume every worker mounts: look from another worker if any.
        ran_on = worker_hostname(record["worker"])
        reader = next((c for c in workers if c.attrs["Config"]["Hostname"] != ran_on), workers[0])
        listing = stack.exec(reader, "ls", f"{LOG_DIR}/{job_id[:2]}/").split()
        assert f"{job_id}.{record['attempts']}.log" in listing, (job_id, listing)
        assert_logs_complete(stack, job_id)
    echo = stack.job(job_ids[0])
    assert echo["result"] == {"hello": "world"}, echo

    master_mount = _logs_mount(stack.service("master"))
    assert master_mount["RW"] is False, master_mount
    for worker in workers:
        mount = _logs_mount(worker)
        assert mount["RW"] is True, mount
        assert mount["Type"] == "volume" and mount["Name"] == master_mount["Name"], mount


def test_bad_input_is_refused_and_cluster_keeps_working(stack: Stack) -> None:
    master = stack.service("master")
    before = (master.id, master.attrs["RestartCount"])
    json_header = {"Content-Type": "application/json"}

    malformed = stack.http.post("/jobs", content=b'{"type": "echo",', headers=json_header)
    assert malformed.status_code == 400, malformed.text
    unknown = stack.http.post("/jobs", json={"type": "no_such_task"})
    assert unknown.status_code == 422, unknown.text
    assert "unknown job type" in unknown.json()["detail"]
    oversized = stack.http.post(
        "/jobs", json={"type": "echo", "payload": {"blob": "x" * (MAX_PAYLOAD + 1)}}
    )
    assert oversized.status_code == 413, oversized.text
    huge_body = stack.http.post("/jobs", content=b" " * (MAX_BODY + 1), headers=json_header)
    assert huge_body.status_code == 413, huge_body.text
    for response in (malformed, unknown, oversized, huge_body):
        assert isinstance(response.json()["detail"], str), response.text

    job_id = stack.submit("echo", {"after": "bad input"})
    assert stack.wait_job(job_id)["result"] == {"after": "bad input"}
    master.reload()
    assert (master.id, master.attrs["RestartCount"]) == before, "the master restarted"
    assert master.status == "running"


def _attempts_by_outcome(record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    by: dict[str, list[dict[str, Any]]] = {}
    for attempt in record["history"]:
        by.setdefault(attempt["outcome"], []).append(attempt)
    return by


def test_sigkilled_worker_job_completes_elsewhere(stack: Stack) -> None:
    job_id = stack.submit("sleep", {"seconds": KILLED_SLEEP_S}, max_attempts=3)
    running = stack.wait_running(job_id)
    victim_id = str(running["worker"])
    victim = _worker_of(stack, victim_id)
    assert victim is not None, f"no worker container with hostname of {victim_id}"
    # Jobs accepted around the kill must all complete too.
    others = [stack.submit("echo", {"n": n}) for n in range(5)]
    killed_at = time.time()
    victim.kill()  # SIGKILL
    after_kill = stack.job(job_id)
    assert after_kill["status"] == "running", f"the job was not running at the kill: {after_kill}"
    try:
        record = stack.wait_job(job_id)
        by = _attempts_by_outcome(record)
        first = record["history"][0]
        assert first["attempt"] == 1 and first["outcome"] == "lease_expired", record["history"]
        assert first["worker"] == victim_id, record["history"]
        (won,) = by["succeeded"]
        assert won["attempt"] > 1 and won["worker"] != victim_id, record["history"]
        second = record["history"][1]
        recovery = second["started_at"] - killed_at
        victim.reload()
        print(
            f"\n[integration] SIGKILL of {victim.name} ({victim_id}): attempt 2 started on "
            f"{second['worker']} {recovery:.2f}s after the kill; succeeded on attempt "
            f"{won['attempt']} ({won['worker']}); victim now {victim.status}, "
            f"restarts {victim.attrs['RestartCount']}"
        )
        attempts = {a["attempt"]: a for a in stack.logs(job_id)}
        assert attempts[1]["complete"] is False, attempts[1]  # the killed attempt's log
        assert attempts[won["attempt"]]["complete"] is True, attempts
        for other in others:
            stack.wait_job(other)
    finally:
        # Docker may or may not restart a killed container (restart: unless-stopped): make
        # sure the following tests see all workers again.
        stack.up()
    eventually(lambda: len(stack.workers()) == WORKERS, 60, f"{WORKERS} running workers")
