"""Failed attempts: retries with exponential backoff, dead letters, and the retry endpoint.

Workers here run with JOBFLEET_BACKOFF_BASE_S=0.3: the n-th retry waits a random time in
[0.5, 1] * 0.3 * 2^(n-1) s, measured from the end of the failed attempt to its ``run_at``.
"""

from __future__ import annotations

import itertools

from cluster.worker.execute import backoff_ms
from tests.unit.conftest import Fleet
from tests.unit.helpers import Api, history

BASE = 0.3
SLACK = 1.0  # promotion and claim latency on top of the backoff (maintenance every 0.1 s)


def gaps(record: dict[str, object]) -> list[float]:
    attempts = record["history"]
    assert isinstance(attempts, list)
    return [b["started_at"] - a["finished_at"] for a, b in itertools.pairwise(attempts)]


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    for attempt in range(1, 8):
        ceiling = min(10.0, 0.5 * 2 ** (attempt - 1)) * 1000
        for _ in range(50):
            assert ceiling / 2 <= backoff_ms(attempt, 0.5, 10.0) <= ceiling
    assert backoff_ms(0, 0.5, 10.0) <= 500
    assert backoff_ms(3, 0.0, 10.0) == 0


def test_fail_twice_then_succeed_on_attempt_3(api: Api, fleet: Fleet) -> None:
    fleet.worker(backoff_base_s=BASE)
    job_id = api.submit("fail", {"times": 2}, max_attempts=3)
    done = api.wait_status(job_id, "succeeded", "failed")
    assert done["status"] == "succeeded", done
    assert done["result"] == {"attempt": 3}
    assert done["attempts"] == 3
    assert history(done) == ["failed", "failed", "succeeded"]
    assert [a["error"] for a in done["history"][:2]] == [
        "RuntimeError: planned failure 1 of 2",
        "RuntimeError: planned failure 2 of 2",
    ]
    assert done["error"] is None


def test_gaps_between_attempts_grow(api: Api, fleet: Fleet) -> None:
    fleet.worker(backoff_base_s=BASE)
    job_id = api.submit("fail", {"times": 3}, max_attempts=4)
    done = api.wait_status(job_id, "succeeded", "failed")
    assert history(done) == ["failed", "failed", "failed", "succeeded"]
    measured = gaps(done)
    print(f"\ngaps between attempts (base {BASE} s): {[round(g, 3) for g in measured]}")
    for n, gap in enumerate(measured, start=1):
        ceiling = BASE * 2 ** (n - 1)
        assert ceiling / 2 - 0.002 <= gap <= ceiling + SLACK, (n, measured)
    # jitter can make neighbours touch (both near 0.3 s) but two doublings always separate
    assert measured[2] > measured[0], measured


def test_poison_pill_fails_into_dead_letters_and_retry_revives_it(api: Api, fleet: Fleet) -> None:
    fleet.worker(backoff_base_s=0.05)
    job_id = api.submit("fail", {"times": 3}, max_attempts=2)
    done = api.wait_status(job_id, "succeeded", "failed")
    assert done["status"] == "failed"
    assert done["error"] == "RuntimeError: planned failure 2 of 3"
    assert history(done) == ["failed", "failed"]
    assert api.queue_counts()["failed"] == 1
    listed = api.http.get("/jobs", params={"status": "failed"}).json()["jobs"]
    assert [j["id"] for j in listed] == [job_id]

    response = api.http.post(f"/jobs/{job_id}/retry")
    assert response.status_code == 202, response.text
    assert response.json()["status"] in ("queued", "running", "scheduled", "succeeded")
    revived = api.wait_status(job_id, "succeeded", "failed")
    # a fresh budget of 2: attempt 3 fails (planned), attempt 4 succeeds
    assert revived["status"] == "succeeded", revived
    assert revived["result"] == {"attempt": 4}
    assert history(revived) == ["failed", "failed", "failed", "succeeded"]
    assert api.queue_counts()["failed"] == 0
    again = api.http.post(f"/jobs/{job_id}/retry")
    assert again.status_code == 409
    assert "is succeeded" in again.json()["detail"]


def test_retry_of_a_queued_job_is_409(api: Api) -> None:
    job_id = api.submit("echo")
    response = api.http.post(f"/jobs/{job_id}/retry")
    assert response.status_code == 409, response.text
    assert "only failed or cancelled jobs can be retried" in response.json()["detail"]


def test_cancelled_job_can_be_retried(api: Api, fleet: Fleet) -> None:
    job_id = api.submit("echo", {"back": True})
    assert api.http.delete(f"/jobs/{job_id}").status_code == 200
    assert api.http.post(f"/jobs/{job_id}/retry").status_code == 202
    fleet.worker()
    done = api.wait_status(job_id, "succeeded", "failed")
    assert done["result"] == {"back": True}


def test_bad_payload_for_the_task_fails_with_its_message(api: Api, fleet: Fleet) -> None:
    fleet.worker(backoff_base_s=0.05)
    job_id = api.submit("sleep", {"seconds": "long"}, max_attempts=2)
    done = api.wait_status(job_id, "failed")
    message = "PayloadError: payload field 'seconds' must be a number from 0 to 3600"
    assert done["error"] == message
    assert [a["error"] for a in done["history"]] == [message, message]
