"""The autoscaler in a compose project of its own (profile ``autoscale``): a burst of jobs scales
the workers up to the maximum, the backlog drains, the workers scale back down to the minimum
by draining (SIGTERM), and no job is lost on the way. Scale-up and scale-down times are
measured and printed (``-s``), and attached to the report as user properties.

Its own project (``jfas<random>``), not the session stack: scaling the shared stack's workers
would disturb the other tests, and this needs the profile and fast rules (cooldown 4 s).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import orjson
import pytest
from testcontainers.compose import DockerCompose

from tests.integration.stack import (
    COMPOSE_DIR,
    COMPOSE_FILE,
    PROJECT_LABEL,
    ROOT,
    Stack,
    eventually,
)
from tests.redis_server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
MIN, MAX, TARGET = 1, 4, 2
JOBS, JOB_S = 40, 1.5
RULES = {
    "JOBFLEET_AUTOSCALE_MIN_WORKERS": str(MIN),
    "JOBFLEET_AUTOSCALE_MAX_WORKERS": str(MAX),
    "JOBFLEET_AUTOSCALE_TARGET_JOBS_PER_WORKER": str(TARGET),
    "JOBFLEET_AUTOSCALE_COOLDOWN_S": "4",
    "JOBFLEET_AUTOSCALE_INTERVAL_S": "1",
}


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker engine reachable: {exc}")
    project, port = f"jfas{secrets.token_hex(4)}", free_port()
    settings = {"COMPOSE_PROJECT_NAME": project, "JOBFLEET_PORT": str(port),
                "JOBFLEET_WORKERS": str(MIN), **RULES}  # fmt: skip
    env_file = Path(tmp_path_factory.mktemp("autoscale")) / "autoscale.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    with pytest.MonkeyPatch.context() as env:
        for name, value in settings.items():
            env.setenv(name, value)
        env.setenv("COMPOSE_BAKE", "false")
        if "DOCKER_CONFIG" not in os.environ and (ROOT / ".docker" / "cli-plugins").is_dir():
            env.setenv("DOCKER_CONFIG", str(ROOT / ".docker"))
        compose = DockerCompose(context=COMPOSE_DIR, compose_file_name=COMPOSE_FILE, pull=False,
                                build=False, wait=True, env_file=str(env_file),
                                profiles=["autoscale"])  # fmt: skip
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False)
        try:
            try:
                compose.start()
            except subprocess.CalledProcessError as exc:
                pytest.fail(f"compose up failed: {(exc.stderr or b'').decode()[-3000:]}")
            stack = Stack(project, port, compose, client, http)
            stack.wait_ready()
            yield stack
        finally:
            http.close()
            with pytest.MonkeyPatch.context():
                try:
                    compose.stop(down=True)
                except subprocess.CalledProcessError as exc:
                    print(f"[autoscale] compose down failed: {exc}")
            for container in client.containers.list(  # clones compose did not know about
                all=True, filters={"label": [f"{PROJECT_LABEL}={project}"]}
            ):
                container.remove(force=True, v=True)
            client.close()


def live_workers(stack: Stack) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = stack.http.get("/workers").json()["workers"]
    return [w for w in found if not w["info"].get("draining")]


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``check()`` held (polling every 0.25 s); fails after ``timeout``."""
    started = time.monotonic()
    eventually(lambda: check() or None, timeout, what, every=0.25)
    return time.monotonic() - started


def scale_events(stack: Stack) -> list[dict[str, Any]]:
    logs = stack.service("autoscaler").logs().decode("utf-8", "replace").splitlines()
    events = [orjson.loads(line) for line in logs if line.startswith("{")]
    wanted = ("scale up", "scale down", "draining worker", "worker removed")
    return [e for e in events if e.get("event") in wanted]


def test_burst_scales_up_to_max_then_down_to_min_without_losing_jobs(
    scaled: Stack, record_property: Callable[[str, object], None]
) -> None:
    stack = scaled
    wait_for(lambda: len(stack.workers()) == MIN and len(live_workers(stack)) == MIN, 120,
             f"{MIN} worker at start")  # fmt: skip
    burst = [{"type": "sleep", "payload": {"seconds": JOB_S}} for _ in range(JOBS)]
    response = stack.http.post("/jobs/batch", json={"jobs": burst})
    assert response.status_code == 202, response.text
    ids: list[str] = response.json()["ids"]

    up_s = wait_for(lambda: len(stack.workers()) == MAX, 120, f"{MAX} worker containers")
    serving_s = wait_for(lambda: len(live_workers(stack)) == MAX, 120, f"{MAX} live workers")
    ps = stack.run_compose("ps", "--format", "json", "worker")
    listed = [orjson.loads(line) for line in ps.splitlines() if line.strip().startswith("{")]
    if len(listed) == 1 and isinstance(listed[0], list):  # older compose: one JSON array
        listed = listed[0]
    assert len(listed) >= MAX, f"docker compose ps shows {len(listed)} workers:\n{ps}"

    def all_finished() -> bool:
        return all(stack.job(job_id)["status"] in ("succeeded", "failed") for job_id in ids)

    drain_s = wait_for(all_finished, 300, "the burst to finish")
    down_s = wait_for(
        lambda: len(stack.workers(running=False)) == MIN, 180, f"back to {MIN} worker container"
    )
    at_min = time.time()
    records = [stack.job(job_id) for job_id in ids]
    lost = [r["id"] for r in records if r["status"] != "succeeded"]
    assert not lost, f"jobs not succeeded after the scale-down: {lost}"
    handed_back = sum(1 for r in records for a in r["history"] if a["outcome"] == "released")

    events = scale_events(stack)
    assert any(e["event"] == "scale up" and e["desired"] == MAX for e in events), events
    downs = [e for e in events if e["event"] == "scale down"]
    assert downs, events
    drained = [e for e in events if e["event"] == "draining worker"]
    assert len(drained) == MAX - MIN, drained
    assert len([e for e in events if e["event"] == "worker removed"]) == MAX - MIN
    timings = {
        "scale_up_containers_s": round(up_s, 1),
        "scale_up_serving_s": round(up_s + serving_s, 1),
        "burst_drained_s": round(up_s + serving_s + drain_s, 1),
        "scale_down_after_drain_s": round(down_s, 1),
        "scale_down_first_to_min_s": round(at_min - downs[0]["t"], 1),
        "drained_while_busy": sum(1 for e in drained if e["busy"]),
        "jobs": JOBS,
        "handed_back_attempts": handed_back,
    }
    for name, value in timings.items():
        record_property(name, value)
    print(f"\n[autoscale] {orjson.dumps(timings).decode()}")
