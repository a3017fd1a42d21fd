"""At-least-once delivery: lapsed leases are reclaimed, dead workers' jobs finish elsewhere,
late results of a lapsed holder are fenced off and kept only as history.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
from redis.asyncio import Redis

from cluster.models import JobSpec
from cluster.queue import JobQueue, Outcome
from tests.unit.conftest import Fleet
from tests.unit.helpers import Api, history, wait_until


@pytest.mark.parametrize("lease_s", [1, 5])
def test_killed_workers_job_is_reclaimed_by_another(api: Api, fleet: Fleet, lease_s: int) -> None:
    first, second = fleet.worker(lease_s=lease_s), fleet.worker(lease_s=lease_s)
    job_id = api.submit("sleep", {"seconds": 1.5})
    running = api.wait_status(job_id, "running")
    victim = fleet.holder(running["worker"])
    survivor = second if victim is first else first
    time.sleep(0.3)  # let the attempt write its first log lines
    killed_at = time.time()
    victim.signal(signal.SIGKILL)
    done = api.wait_status(job_id, "succeeded", "failed", timeout=lease_s + 20)
    assert done["status"] == "succeeded"
    assert history(done) == ["lease_expired", "succeeded"]
    assert [a["worker"] for a in done["history"]] == [victim.id, survivor.id]
    assert done["worker"] == survivor.id
    assert done["attempts"] == 2
    recovery = done["history"][1]["started_at"] - killed_at
    completion = done["finished_at"] - killed_at
    print(
        f"\nlease {lease_s} s: SIGKILL -> reclaimed and restarted in {recovery:.2f} s,"
        f" completed {completion:.2f} s after the kill"
    )
    assert recovery > 0

    logs = api.http.get(f"/jobs/{job_id}/logs").json()["attempts"]
    assert [(a["attempt"], a["complete"]) for a in logs] == [(1, False), (2, True)]
    assert logs[0]["lines"][0]["event"] == "start"
    assert logs[0]["lines"][0]["worker"] == victim.id
    assert [line["event"] for line in logs[1]["lines"]] == ["start", "log", "end"]
    assert logs[1]["lines"][-1]["outcome"] == "succeeded"


def test_worker_death_with_no_attempt_left_is_a_poison_pill(api: Api, fleet: Fleet) -> None:
    worker = fleet.worker(lease_s=1)
    job_id = api.submit("sleep", {"seconds": 30}, max_attempts=1)
    api.wait_status(job_id, "running")
    worker.signal(signal.SIGKILL)
    done = api.wait_status(job_id, "succeeded", "failed", timeout=15)
    assert done["status"] == "failed"
    assert "poison pill" in done["error"]
    assert f"lease expired on attempt 1: worker {worker.id}" in done["error"]
    assert history(done) == ["lease_expired"]
    assert api.queue_counts()["failed"] == 1
    assert api.queue_counts()["running"] == 0


def test_frozen_worker_cannot_overwrite_the_result(api: Api, fleet: Fleet) -> None:
    first, second = fleet.worker(lease_s=1), fleet.worker(lease_s=1)
    job_id = api.submit("sleep", {"seconds": 1.5})
    running = api.wait_status(job_id, "running")
    frozen = fleet.holder(running["worker"])
    other = second if frozen is first else first
    frozen.signal(signal.SIGSTOP)
    try:
        done = api.wait_status(job_id, "succeeded", "failed", timeout=20)
    finally:
        frozen.signal(signal.SIGCONT)
    assert done["status"] == "succeeded"
    assert done["worker"] == other.id
    assert history(done) == ["lease_expired", "succeeded"]

    def reported() -> dict[str, object] | None:
        record = api.job(job_id)
        return record if history(record)[0] != "lease_expired" else None

    late = wait_until(reported, 15, 0.05, "the thawed worker to report its late attempt")
    assert history(late) == ["stale_succeeded", "succeeded"]
    late_history: list[dict[str, object]] = late["history"]  # type: ignore[assignment]
    done_history: list[dict[str, object]] = done["history"]
    assert late_history[0]["worker"] == frozen.id
    assert late_history[1] == done_history[1]
    for field in ("status", "result", "worker", "attempts", "finished_at", "error"):
        assert late[field] == done[field], field
    assert frozen.alive()  # it carries on working
    follow_up = api.submit("echo", {"after": "thaw"})
    assert api.wait_status(follow_up, "succeeded")["result"] == {"after": "thaw"}


class Clock:
    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def __call__(self) -> int:
        return self.ms


@pytest.mark.parametrize("late_outcome", ["succeeded", "failed", "timeout"])
def test_fencing_rejects_a_lapsed_holder(redis_url: str, flush: None, late_outcome: str) -> None:
    """Protocol level, with a clock the test drives (and a key prefix no process maintains)."""
    asyncio.run(_fencing(redis_url, late_outcome))


async def _fencing(redis_url: str, late_outcome: str) -> None:
    clock = Clock()
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        queue = JobQueue(redis, prefix="fence", clock=clock)
        (submitted,) = await queue.submit([JobSpec(type="echo", payload={"v": 1})])
        (held_by_a,) = await queue.claim("worker-a", ["default"], 1, lease_ms=50)
        assert held_by_a.attempt == 1
        clock.ms += 51
        maintenance = await queue.maintain("default")
        assert (maintenance.reclaimed, maintenance.ids) == (1, [submitted.id])
        (held_by_b,) = await queue.claim("worker-b", ["default"], 1, lease_ms=5_000)
        assert held_by_b.attempt == 2
        assert await queue.renew("worker-a", [held_by_a], 50) == [submitted.id]

        value = '{"by": "a"}' if late_outcome == "succeeded" else "late error"
        late = Outcome(held_by_a, late_outcome, value, clock.ms - 51, clock.ms, clock.ms + 10)
        assert await queue.finish("worker-a", [late]) == {submitted.id: "stale"}
        record = await queue.get(submitted.id)
        assert record is not None
        assert (record.status, record.worker, record.attempts) == ("running", "worker-b", 2)

        clock.ms += 5
        good = Outcome(held_by_b, "succeeded", '{"by": "b"}', clock.ms - 5, clock.ms)
        assert await queue.finish("worker-b", [good]) == {submitted.id: "succeeded"}
        assert await queue.finish("worker-b", [good]) == {submitted.id: "duplicate"}
        assert await queue.finish("worker-a", [late]) == {submitted.id: "duplicate"}
        record = await queue.get(submitted.id)
        assert record is not None
        assert (record.status, record.result, record.worker) == (
            "succeeded",
            {"by": "b"},
            "worker-b",
        )
        assert [(a.attempt, a.worker, a.outcome) for a in record.history] == [
            (1, "worker-a", f"stale_{late_outcome}"),
            (2, "worker-b", "succeeded"),
        ]
    finally:
        await redis.aclose()


def test_a_thawed_worker_can_hold_two_attempts_of_one_job(api: Api, fleet: Fleet) -> None:
    """Frozen past its lease, the only worker wakes, re-claims its own reclaimed job (attempt 2)
    while attempt 1 still runs: the two attempts must not be confused (keyed by id alone,
    attempt 1's end dropped attempt 2's lease and it ended as a poison pill)."""
    worker = fleet.worker(lease_s=1, concurrency=2)
    job_id = api.submit("sleep", {"seconds": 3}, max_attempts=2)
    api.wait_status(job_id, "running")
    worker.signal(signal.SIGSTOP)
    try:
        wait_until(lambda: api.job(job_id)["status"] == "queued" or None, 15, 0.05, "the reclaim")
    finally:
        worker.signal(signal.SIGCONT)
    done = api.wait_status(job_id, "succeeded", "failed", timeout=30)
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    assert history(done) in (["lease_expired", "succeeded"], ["stale_succeeded", "succeeded"])
    assert {a["worker"] for a in done["history"]} == {worker.id}
