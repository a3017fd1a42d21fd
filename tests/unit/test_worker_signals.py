"""Graceful stop: SIGTERM (or SIGINT) drains in-flight jobs, hands back the rest, exits 0."""

from __future__ import annotations

import signal
import time

import pytest

from tests.unit.conftest import Fleet
from tests.unit.helpers import Api, history, wait_until


def listed(api: Api, worker_id: str) -> bool:
    return any(w["id"] == worker_id for w in api.workers())


def test_idle_worker_stops_at_once_and_leaves_the_roster(api: Api, fleet: Fleet) -> None:
    worker = fleet.worker()
    assert listed(api, worker.id)
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    assert not listed(api, worker.id)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_finishes_a_short_job_in_flight(api: Api, fleet: Fleet, sig: signal.Signals) -> None:
    worker = fleet.worker(drain_s=10)
    job_id = api.submit("sleep", {"seconds": 1})
    api.wait_status(job_id, "running")
    worker.signal(sig)
    time.sleep(0.2)  # the worker is draining: it must not take new work
    untouched = api.submit("echo")
    assert worker.wait(timeout=15) == 0, worker.tail()
    done = api.job(job_id)
    assert done["status"] == "succeeded"
    assert history(done) == ["succeeded"]
    assert done["worker"] == worker.id
    assert api.job(untouched)["status"] == "queued"
    assert not listed(api, worker.id)


def test_stop_hands_back_a_long_job_which_another_worker_completes(api: Api, fleet: Fleet) -> None:
    worker = fleet.worker(drain_s=0.5)
    job_id = api.submit("sleep", {"seconds": 2}, max_attempts=1)
    api.wait_status(job_id, "running")
    stopped_at = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0, worker.tail()
    print(f"\nworker exited {time.monotonic() - stopped_at:.2f} s after SIGTERM (drain 0.5 s)")
    handed_back = api.job(job_id)
    assert handed_back["status"] == "queued"
    assert history(handed_back) == ["released"]
    assert handed_back["history"][0]["worker"] == worker.id

    other = fleet.worker()
    done = api.wait_status(job_id, "succeeded", "failed", timeout=20)
    # the hand-back did not use up the only attempt
    assert done["status"] == "succeeded", done
    assert history(done) == ["released", "succeeded"]
    assert done["worker"] == other.id
    logs = api.http.get(f"/jobs/{job_id}/logs").json()["attempts"]
    assert [(a["attempt"], a["complete"]) for a in logs] == [(1, True), (2, True)]
    assert logs[0]["lines"][-1]["outcome"] == "released"


def test_stop_while_redis_holds_many_ready_jobs_leaves_them_queued(api: Api, fleet: Fleet) -> None:
    worker = fleet.worker(concurrency=4, drain_s=5)
    ids = api.http.post(
        "/jobs/batch", json={"jobs": [{"type": "sleep", "payload": {"seconds": 0.5}}] * 20}
    ).json()["ids"]
    wait_until(lambda: api.queue_counts()["running"] == 4, 10, 0.02, "4 jobs running")
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0, worker.tail()
    statuses = [api.job(job_id)["status"] for job_id in ids]
    assert set(statuses) <= {"succeeded", "queued"}, statuses
    assert statuses.count("succeeded") >= 4
    assert api.queue_counts()["running"] == 0
    fleet.worker(concurrency=8)
    for job_id in ids:
        assert api.wait_status(job_id, "succeeded", "failed")["status"] == "succeeded"
