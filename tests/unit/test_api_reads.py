"""Reading the system: job listings and their pages, logs, queues, workers, health, readiness."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path

from cluster.master.state import MasterState
from cluster.settings import Settings
from tests.redis_server import free_port
from tests.unit.conftest import Fleet
from tests.unit.helpers import Api, wait_until


def page_through(api: Api, limit: int, **params: str) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: int | None = None
    for _ in range(100):
        query: dict[str, str | int] = {"limit": limit, **params}
        if cursor is not None:
            query["cursor"] = cursor
        response = api.http.get("/jobs", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([j["id"] for j in body["jobs"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the cursor never ran out")


def test_listing_pages_newest_first_without_gaps_or_repeats(api: Api) -> None:
    ids = [api.submit("echo", {"n": n}) for n in range(7)]
    pages = page_through(api, 3)
    assert [len(p) for p in pages[:3]] == [3, 3, 1]
    assert all(p == [] for p in pages[3:])
    assert [job_id for page in pages for job_id in page] == ids[::-1]
    exact = page_through(api, 7)
    assert exact[0] == ids[::-1]


def test_listing_by_status_and_queue(api: Api, fleet: Fleet) -> None:
    queued = [api.submit("echo") for _ in range(3)]
    other = api.submit("echo", queue="other")
    cancelled = [api.submit("echo", delay_s=60) for _ in range(2)]
    for job_id in cancelled:
        assert api.http.delete(f"/jobs/{job_id}").status_code == 200

    def listed(**params: str) -> list[str]:
        response = api.http.get("/jobs", params=params)
        assert response.status_code == 200, response.text
        return [j["id"] for j in response.json()["jobs"]]

    assert listed(status="cancelled") == cancelled[::-1]
    assert listed(status="queued") == [other, *queued[::-1]]  # newest first, across queues
    assert listed(status="queued", queue="other") == [other]
    assert listed(status="running") == []
    fleet.worker(queues="other")
    api.wait_status(other, "succeeded")
    assert listed(status="succeeded") == [other]
    assert listed(status="queued") == queued[::-1]
    assert sorted(listed()) == sorted([*queued, other, *cancelled])


def test_queues_report_depth_in_flight_scheduled_and_dead(api: Api, fleet: Fleet) -> None:
    api.submit("echo")
    api.submit("echo", delay_s=60)
    api.submit("echo", queue="other")
    queues = {q["name"]: q for q in api.http.get("/queues").json()["queues"]}
    assert set(queues) == {"default", "other"}
    assert queues["default"] == {
        "name": "default",
        "queued": 1,
        "running": 0,
        "scheduled": 1,
        "failed": 0,
    }
    assert queues["other"]["queued"] == 1
    fleet.worker(queues="other")
    sleeper = api.submit("sleep", {"seconds": 1}, queue="other")
    api.wait_status(sleeper, "running")
    assert api.queue_counts("other")["running"] == 1


def test_logs_of_a_job(api: Api, fleet: Fleet) -> None:
    job_id = api.submit("sleep", {"seconds": 0.1})
    assert api.http.get(f"/jobs/{job_id}/logs").json() == {"id": job_id, "attempts": []}
    worker = fleet.worker()
    api.wait_status(job_id, "succeeded")
    (attempt,) = api.http.get(f"/jobs/{job_id}/logs").json()["attempts"]
    assert attempt["attempt"] == 1
    assert attempt["complete"] is True
    start, line, end = attempt["lines"]
    assert start["event"] == "start"
    assert (start["job"], start["attempt"], start["worker"]) == (job_id, 1, worker.id)
    assert (line["event"], line["msg"], line["seconds"]) == ("log", "sleeping", 0.1)
    assert (end["event"], end["outcome"], end["error"]) == ("end", "succeeded", None)
    assert end["duration_s"] >= 0.099  # the worker runs uvloop, whose timers tick in ms


def test_workers_lists_each_live_worker_and_what_it_runs(api: Api, fleet: Fleet) -> None:
    first = fleet.worker(concurrency=2)
    second = fleet.worker(queues="other")
    job_id = api.submit("sleep", {"seconds": 2})
    api.wait_status(job_id, "running")

    def busy() -> dict[str, dict[str, object]] | None:
        found = {w["id"]: w for w in api.workers()}
        return found if found.get(first.id, {}).get("info", {}).get("jobs") else None

    workers = wait_until(busy, 5, 0.05, "the worker to report its job")
    assert set(workers) == {first.id, second.id}
    info = workers[first.id]["info"]
    assert isinstance(info, dict)
    assert info["pid"] == first.pid
    assert info["concurrency"] == 2
    assert info["queues"] == ["default", "other"]
    assert info["jobs"] == [{"id": job_id, "attempt": 1, "type": "sleep"}]
    assert info["draining"] is False
    assert workers[second.id]["info"]["queues"] == ["other"]  # type: ignore[index]
    assert 0 <= workers[first.id]["heartbeat_age_s"] < 5  # type: ignore[operator]
    second.signal(signal.SIGKILL)
    second.wait(5)
    gone = wait_until(
        lambda: second.id not in {w["id"] for w in api.workers()}, 15, 0.2, "dead worker to age out"
    )
    assert gone


def test_health_and_readiness(api: Api) -> None:
    assert api.http.get("/healthz").json() == {"status": "ok"}
    ready = api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_readiness_is_503_while_redis_is_unreachable(fleet: Fleet) -> None:
    closed = free_port()  # nothing listens here
    _, url = fleet.master(redis_url=f"redis://127.0.0.1:{closed}/0")
    down = Api(url)
    try:
        assert down.http.get("/healthz").status_code == 200
        ready = down.http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert "6379" not in ready.json()["detail"]
        refused = down.http.post("/jobs", json={"type": "echo"})
        assert refused.status_code == 503, refused.text
        assert "unavailable" in refused.json()["detail"]
        assert refused.headers["retry-after"] == "1"
        assert down.http.get(f"/jobs/{'a' * 32}").status_code == 503
    finally:
        down.close()


def test_master_stops_promptly_on_sigterm(fleet: Fleet) -> None:
    proc, _ = fleet.master()
    time.sleep(0.5)  # a few maintenance rounds
    proc.signal(signal.SIGTERM)
    # uvicorn re-raises the signal once its graceful shutdown is done
    assert proc.wait(timeout=15) in (0, -signal.SIGTERM), proc.tail()
    assert "Application shutdown complete" in proc.tail()


def test_master_state_closes_even_when_stopped_mid_maintenance(
    redis_url: str, flush: None, tmp_path: Path
) -> None:
    """Closing while a maintenance round talks to Redis must not hang (in-process, real Redis).

    On Python 3.11 a cancel landing while redis-py sends a command can be swallowed; a
    maintenance loop stopped by cancellation alone then runs forever and shutdown hangs.
    """
    settings = Settings(
        redis_url=redis_url, log_dir=tmp_path, key_prefix="closing", maintenance_s=0.0005
    )

    async def cycles() -> None:
        for n in range(60):
            state = MasterState.open(settings)
            await state.start()
            await asyncio.sleep((n % 7) * 0.0007)
            await state.close()

    runner = threading.Thread(target=asyncio.run, args=(cycles(),), daemon=True)
    runner.start()
    runner.join(timeout=30)  # a hang stays in this daemon thread instead of blocking the suite
    assert not runner.is_alive(), "MasterState.close() hung"
