"""How a task's own failures are recorded: its exceptions, its results, and a broken log volume."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from cluster.models import JobSpec
from cluster.queue import ClaimedJob, Outcome
from cluster.settings import Settings
from cluster.tasks import load_registry
from cluster.worker.logfile import AttemptLog
from cluster.worker.runtime import Worker as RuntimeWorker
from tests.unit.conftest import Fleet, Worker
from tests.unit.helpers import Api, history, wait_until

TASKS = """
import asyncio
from cluster.tasks import task


@task("{p}_raises_timeout")
async def raises_timeout(ctx):
    raise TimeoutError("upstream did not answer")


@task("{p}_unserialisable")
def unserialisable(ctx):
    return {{1, 2, 3}}


@task("{p}_huge")
def huge(ctx):
    return "x" * 300_000


@task("{p}_slow_sync")
def slow_sync(ctx):
    import time
    time.sleep(ctx.payload["seconds"])
    return "done"
"""


@pytest.fixture
def task_module(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A module of misbehaving tasks: their name prefix, and the worker settings that load it."""
    prefix = f"t{os.urandom(3).hex()}"
    module = f"misbehaving_{prefix}"
    (tmp_path / f"{module}.py").write_text(TASKS.format(p=prefix))
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    return prefix, {"PYTHONPATH": path, "JOBFLEET_TASKS_MODULE": module}


@pytest.fixture
def user_tasks(fleet: Fleet, task_module: tuple[str, dict[str, str]]) -> tuple[str, Worker]:
    """A worker that runs the misbehaving tasks; returns their name prefix and the worker."""
    prefix, env = task_module
    return prefix, fleet.worker(env=env, backoff_base_s=0.05)


def submit_when_known(api: Api, job_type: str, **spec: object) -> str:
    def accepted() -> str | None:
        response = api.http.post("/jobs", json={"type": job_type, **spec})
        return str(response.json()["id"]) if response.status_code == 202 else None

    return wait_until(accepted, 10, 0.1, f"the master to learn type {job_type}")


def test_a_timeout_error_raised_by_the_task_is_a_failure_not_a_timeout(
    api: Api, user_tasks: tuple[str, Worker]
) -> None:
    prefix, _ = user_tasks
    job_id = submit_when_known(api, f"{prefix}_raises_timeout", max_attempts=1, timeout_s=60)
    done = api.wait_status(job_id, "succeeded", "failed")
    assert history(done) == ["failed"]
    assert done["error"] == "TimeoutError: upstream did not answer"


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        ("unserialisable", "TypeError: task result is not JSON-serialisable"),
        ("huge", "ValueError: task result is 300002 bytes, over 262144"),
    ],
)
def test_a_result_that_cannot_be_stored_fails_the_attempt(
    api: Api, user_tasks: tuple[str, Worker], suffix: str, message: str
) -> None:
    prefix, _ = user_tasks
    job_id = submit_when_known(api, f"{prefix}_{suffix}", max_attempts=2)
    done = api.wait_status(job_id, "succeeded", "failed")
    assert history(done) == ["failed", "failed"]
    assert done["error"].startswith(message), done["error"]


def test_a_sync_task_past_its_timeout_is_recorded_as_timeout(
    api: Api, user_tasks: tuple[str, Worker]
) -> None:
    prefix, _ = user_tasks
    job_id = submit_when_known(
        api, f"{prefix}_slow_sync", payload={"seconds": 1.5}, max_attempts=1, timeout_s=0.2
    )
    done = api.wait_status(job_id, "succeeded", "failed")
    assert history(done) == ["timeout"]
    assert done["error"] == "timed out after 0.2 s"


def test_broken_log_volume_costs_the_logs_not_the_jobs(
    api: Api, fleet: Fleet, tmp_path: Path
) -> None:
    """Every ``<log_dir>/<xx>`` is a file, so no attempt log can be written."""
    broken = tmp_path / "broken-logs"
    broken.mkdir()
    for n in range(256):
        (broken / f"{n:02x}").write_text("not a directory")
    worker = fleet.worker(log_dir=broken, lease_s=1)
    quiet = api.submit("echo", {"x": 1}, max_attempts=1)
    chatty = api.submit("sleep", {"seconds": 0.1}, max_attempts=1)  # it calls ctx.log
    for job_id in (quiet, chatty):
        done = api.wait_status(job_id, "succeeded", "failed", timeout=10)
        assert done["status"] == "succeeded", done
        assert history(done) == ["succeeded"]
    assert worker.alive()
    info = {w["id"]: w["info"] for w in api.workers()}[worker.id]
    assert info["jobs"] == []
    assert "attempt log not written" in worker.tail()


def test_a_runner_crash_fails_the_attempt_instead_of_wedging_the_job(
    redis_url: str, flush: None, tmp_path: Path
) -> None:
    """In-process worker (real Redis) whose runner raises: the job must not stay running."""
    asyncio.run(_runner_crash(redis_url, tmp_path))


async def _runner_crash(redis_url: str, tmp_path: Path) -> None:
    settings = Settings(
        redis_url=redis_url, log_dir=tmp_path, key_prefix="crash", lease_s=1, maintenance_s=0.05
    )
    worker = RuntimeWorker(settings, load_registry(None))

    async def explode(job: ClaimedJob) -> tuple[Outcome, AttemptLog]:
        raise RuntimeError("runner bug")

    worker.runner.run = explode  # type: ignore[method-assign]
    running = asyncio.create_task(worker.run())
    try:
        (submitted,) = await worker.queue.submit([JobSpec(type="echo", max_attempts=1)])
        record = None
        async with asyncio.timeout(10):
            while record is None or record.status in ("queued", "running"):
                await asyncio.sleep(0.05)
                record = await worker.queue.get(submitted.id)
        assert record.status == "failed"
        assert record.error == f"worker {worker.id}: RuntimeError: runner bug"
        assert [a.outcome for a in record.history] == ["failed"]
    finally:
        worker.stop()
        async with asyncio.timeout(15):
            assert await running == 0


def test_a_timed_out_sync_task_does_not_starve_the_next_one(
    api: Api, user_tasks: tuple[str, Worker]
) -> None:
    """A thread cannot be killed: the timed-out task sleeps on, and must not hold the only
    thread the next job needs (concurrency 1)."""
    prefix, _ = user_tasks
    stuck = submit_when_known(
        api, f"{prefix}_slow_sync", payload={"seconds": 4}, max_attempts=1, timeout_s=0.2
    )
    assert history(api.wait_status(stuck, "succeeded", "failed")) == ["timeout"]
    quick = api.submit(f"{prefix}_slow_sync", {"seconds": 0.1}, max_attempts=1, timeout_s=1.5)
    done = api.wait_status(quick, "succeeded", "failed")
    assert history(done) == ["succeeded"], done["error"]


def test_sigterm_is_not_held_up_by_a_plain_task_that_runs_on(
    api: Api, fleet: Fleet, task_module: tuple[str, dict[str, str]]
) -> None:
    prefix, env = task_module
    worker = fleet.worker(env=env, drain_s=0.5)
    job_id = submit_when_known(api, f"{prefix}_slow_sync", payload={"seconds": 60})
    api.wait_status(job_id, "running")
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0, worker.tail()
    handed_back = api.job(job_id)
    assert (handed_back["status"], history(handed_back)) == ("queued", ["released"])
