"""Structured logs: every line a real master or worker prints is one JSON event; worker events
name the worker; per-job events exist at DEBUG only (``JOBFLEET_LOG_LEVEL``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.unit.conftest import Fleet
from tests.unit.helpers import Api, wait_until


def events(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        event = orjson.loads(line)  # raises on any line that is not JSON
        assert {"t", "level", "logger", "event"} <= set(event), line
        parsed.append(event)
    return parsed


def test_worker_job_events_at_debug(api: Api, fleet: Fleet) -> None:
    worker = fleet.worker(log_level="debug")
    quiet = fleet.worker()  # INFO: no per-job events
    ids = [api.submit("echo", {"n": n}) for n in range(4)]
    for job_id in ids:
        api.wait_status(job_id, "succeeded")

    def per_job(proc: Any) -> list[dict[str, Any]]:
        return [e for e in events(proc.log_path) if e["logger"] == "jobfleet.jobs"]

    finished = wait_until(
        lambda: [e for e in per_job(worker) + per_job(quiet) if e["event"] == "job finished"]
        if len([e for e in per_job(worker) if e["event"] == "job finished"]) >= 1
        else None,
        10, 0.1, "job finished events",
    )  # fmt: skip
    assert not per_job(quiet), "per-job events must be DEBUG only"
    for event in finished:
        assert event["worker"] == worker.id and event["job"] in ids
        assert event["attempt"] == 1 and event["outcome"] == "succeeded"
        assert event["state"] == "succeeded" and event["duration_s"] >= 0
    started = [e for e in per_job(worker) if e["event"] == "job started"]
    assert {e["job"] for e in started} == {e["job"] for e in finished}
    for proc in (worker, quiet):  # every event of a worker process names its worker
        assert all(e.get("worker") == proc.id for e in events(proc.log_path))


def test_master_logs_are_json_uvicorn_included(fleet: Fleet) -> None:
    proc, _ = fleet.master()
    logged = wait_until(lambda: events(proc.log_path), 10, 0.1, "master log lines")
    assert any(e["logger"].startswith("uvicorn") for e in logged), logged
    assert all("color_message" not in e for e in logged)
