"""Redis dies and comes back (same port, same append-only data): nothing accepted is lost."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.unit.conftest import Fleet
from tests.unit.helpers import Api, RedisProcess, history, wait_until


@pytest.fixture
def durable_redis() -> Iterator[RedisProcess]:
    """A redis-server of this test alone, with ``appendfsync always``: a kill loses nothing."""
    server = RedisProcess()
    try:
        server.start()
        yield server
    finally:
        server.close()


def test_worker_rides_out_a_redis_restart(durable_redis: RedisProcess, fleet: Fleet) -> None:
    _, url = fleet.master(redis_url=durable_redis.url)
    api = Api(url, patient=True)
    try:
        worker = fleet.worker(master_url=url, redis_url=durable_redis.url, concurrency=4, lease_s=5)
        batch = [{"type": "sleep", "payload": {"seconds": 0.3}}] * 24
        before = api.http.post("/jobs/batch", json={"jobs": batch}).json()["ids"]
        wait_until(lambda: api.queue_counts()["running"] > 0, 10, 0.02, "jobs to start")

        durable_redis.kill()
        outage = api.http.post("/jobs", json={"type": "echo"})  # not patient: see the 503
        assert outage.status_code == 503, outage.text
        assert api.http.get("/readyz").status_code == 503
        time.sleep(1.0)
        assert worker.alive()
        durable_redis.start()

        wait_until(lambda: api.http.get("/readyz").status_code == 200, 15, 0.1, "readiness")
        # pooled connections to the old server fail once each: the master answers 503 with
        # Retry-After (redis-py 8 does not retry by default) and the patient client retries
        after = [api.submit("echo", {"n": n}) for n in range(5)]
        for job_id in before + after:
            done = api.wait_status(job_id, "succeeded", "failed", timeout=30)
            assert done["status"] == "succeeded", done
            assert history(done)[-1] == "succeeded"
        assert worker.alive()
        assert worker.id in {w["id"] for w in api.workers()}
        assert api.queue_counts() == {
            "name": "default",
            "queued": 0,
            "running": 0,
            "scheduled": 0,
            "failed": 0,
        }
    finally:
        api.close()
