"""2,000 ``echo`` jobs through one worker process: each runs exactly once and succeeds.

Prints the rate (first start to last finish, from the job records); asserts only correctness.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.conftest import Fleet
from tests.unit.helpers import Api, wait_until

JOBS = 2000


def all_succeeded(api: Api) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"status": "succeeded", "limit": 1000}
        if cursor is not None:
            params["cursor"] = cursor
        body = api.http.get("/jobs", params=params).json()
        records += body["jobs"]
        cursor = body["next_cursor"]
        if cursor is None or not body["jobs"]:
            return records


@pytest.mark.parametrize("concurrency", [1, 32])
def test_echo_jobs_through_one_worker(api: Api, fleet: Fleet, concurrency: int) -> None:
    worker = fleet.worker(concurrency=concurrency)
    jobs = [{"type": "echo", "payload": {"n": n}} for n in range(JOBS)]
    response = api.http.post("/jobs/batch", json={"jobs": jobs})
    assert response.status_code == 202, response.text
    ids = response.json()["ids"]
    assert len(set(ids)) == JOBS

    def drained() -> bool:
        counts = api.queue_counts()
        return bool(counts["queued"] == counts["running"] == counts["scheduled"] == 0)

    wait_until(drained, 240, 0.25, "the queue to drain")
    records = all_succeeded(api)
    assert sorted(r["id"] for r in records) == sorted(ids)
    for record in records:
        assert record["attempts"] == 1, record
        assert record["worker"] == worker.id
        assert record["result"] == record["payload"]
    first = min(r["started_at"] for r in records)
    last = max(r["finished_at"] for r in records)
    print(
        f"\necho x{JOBS}, one worker, concurrency {concurrency}: {last - first:.2f} s "
        f"from first start to last finish = {JOBS / (last - first):.0f} jobs/s"
    )
