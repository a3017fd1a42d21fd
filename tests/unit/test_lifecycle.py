"""A job's ordinary life through the HTTP API and real workers: run, delay, dedupe, cancel."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.unit.conftest import Fleet
from tests.unit.helpers import Api, history, wait_until


def test_submit_runs_and_succeeds(api: Api, fleet: Fleet) -> None:
    response = api.http.post("/jobs", json={"type": "echo", "payload": {"hello": "world"}})
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] == "queued"
    assert response.headers["location"] == f"/jobs/{created['id']}"
    worker = fleet.worker()
    done = api.wait_status(created["id"], "succeeded", "failed")
    assert done["status"] == "succeeded"
    assert done["result"] == {"hello": "world"}
    assert done["worker"] == worker.id
    assert history(done) == ["succeeded"]
    assert done["history"][0]["worker"] == worker.id
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]


def test_delayed_job_is_scheduled_then_runs_after_its_delay(api: Api, fleet: Fleet) -> None:
    fleet.worker()
    response = api.http.post("/jobs", json={"type": "echo", "delay_s": 1.5})
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] == "scheduled"
    assert created["run_at"] == pytest.approx(created["created_at"] + 1.5, abs=0.002)
    time.sleep(0.75)
    halfway = api.job(created["id"])
    assert halfway["status"] == "scheduled"
    assert halfway["attempts"] == 0
    done = api.wait_status(created["id"], "succeeded", "failed")
    assert done["status"] == "succeeded"
    assert done["history"][0]["started_at"] >= created["run_at"]


def test_same_idempotency_key_gives_one_job(api: Api, fleet: Fleet) -> None:
    body = {"type": "echo", "payload": {"n": 1}}
    first = api.http.post("/jobs", json=body, headers={"Idempotency-Key": "order-42"})
    again = api.http.post("/jobs", json=body, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert first.json()["id"] == again.json()["id"]
    assert "idempotent-replay" not in first.headers
    assert again.headers["idempotent-replay"] == "true"
    other = api.http.post("/jobs", json=body, headers={"Idempotency-Key": "order-43"})
    plain = api.http.post("/jobs", json=body)
    ids = {first.json()["id"], other.json()["id"], plain.json()["id"]}
    assert len(ids) == 3
    listed = [j["id"] for j in api.http.get("/jobs").json()["jobs"]]
    assert sorted(listed) == sorted(ids)
    fleet.worker()
    for job_id in ids:
        assert api.wait_status(job_id, "succeeded", "failed")["attempts"] == 1
    replay = api.http.post("/jobs", json=body, headers={"Idempotency-Key": "order-42"})
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["status"] == "succeeded"


def test_cancel_queued_and_scheduled_jobs_they_never_run(api: Api, fleet: Fleet) -> None:
    queued = api.submit("echo")
    scheduled = api.submit("echo", delay_s=0.5)
    for job_id in (queued, scheduled):
        response = api.http.delete(f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
    again = api.http.delete(f"/jobs/{queued}")
    assert again.status_code == 409
    assert "is cancelled" in again.json()["detail"]
    fleet.worker()
    time.sleep(1.0)  # past the scheduled job's run_at
    later = api.submit("echo")
    api.wait_status(later, "succeeded")  # the worker was working all along
    for job_id in (queued, scheduled):
        record = api.job(job_id)
        assert record["status"] == "cancelled"
        assert record["attempts"] == 0
        assert record["history"] == []


def test_cancel_running_job_is_409_and_unknown_is_404(api: Api, fleet: Fleet) -> None:
    fleet.worker()
    job_id = api.submit("sleep", {"seconds": 1})
    api.wait_status(job_id, "running")
    response = api.http.delete(f"/jobs/{job_id}")
    assert response.status_code == 409, response.text
    assert "is running" in response.json()["detail"]
    assert api.wait_status(job_id, "succeeded", "failed")["status"] == "succeeded"
    finished = api.http.delete(f"/jobs/{job_id}")
    assert finished.status_code == 409
    unknown = api.http.delete(f"/jobs/{'f' * 32}")
    assert unknown.status_code == 404
    assert "no such job" in unknown.json()["detail"]


def test_timeout_ends_the_attempt(api: Api, fleet: Fleet) -> None:
    fleet.worker()
    job_id = api.submit("sleep", {"seconds": 5}, timeout_s=0.3, max_attempts=1)
    done = api.wait_status(job_id, "succeeded", "failed", timeout=10)
    assert done["status"] == "failed"
    assert history(done) == ["timeout"]
    assert done["error"] == "timed out after 0.3 s"
    assert done["history"][0]["duration_s"] < 2


TASKS_MODULE = """
from cluster.tasks import task


@task("{name}")
def reverse(ctx):
    ctx.log("reversing", text=ctx.payload["text"])
    return {{"text": ctx.payload["text"][::-1]}}


@task()
async def {name}_shout(ctx):
    return ctx.payload["text"].upper()
"""


def test_user_task_module_registers_its_types(api: Api, fleet: Fleet, tmp_path: Path) -> None:
    name = f"reverse_{os.urandom(3).hex()}"
    module = f"usertasks_{os.urandom(3).hex()}"
    (tmp_path / f"{module}.py").write_text(TASKS_MODULE.format(name=name))
    refused = api.http.post("/jobs", json={"type": name, "payload": {"text": "abc"}})
    assert refused.status_code == 422
    assert f"unknown job type '{name}'" in refused.json()["detail"]
    assert "echo" in refused.json()["detail"]
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    fleet.worker(env=env, tasks_module=module)

    def accepted() -> str | None:
        response = api.http.post("/jobs", json={"type": name, "payload": {"text": "abc"}})
        return str(response.json()["id"]) if response.status_code == 202 else None

    job_id = wait_until(accepted, 10, 0.1, f"the master to accept type {name}")
    done = api.wait_status(job_id, "succeeded", "failed")
    assert done["result"] == {"text": "cba"}
    shout = api.submit(f"{name}_shout", {"text": "hey"})
    assert api.wait_status(shout, "succeeded", "failed")["result"] == "HEY"
    lines = api.http.get(f"/jobs/{job_id}/logs").json()["attempts"][0]["lines"]
    assert [line["event"] for line in lines] == ["start", "log", "end"]
    assert lines[1]["msg"] == "reversing"
