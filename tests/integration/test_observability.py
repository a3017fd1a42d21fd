"""Observability in the compose cluster: every worker's /metrics (its container's cgroup readings
included), the master's /metrics and /ui, and the ``prometheus`` service (profile
``observability``): its configuration and alert rules pass ``promtool`` (config, rules and the
rule unit tests in ``compose/prometheus/rules.test.yml``), and once started in the session's
stack it scrapes the master and every worker found by DNS.

The ``jobfleet-prometheus`` image is built by ``nox -s integration``
(``COMPOSE_PROFILES=observability tools/build_images.sh``); without it these fail.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import httpx
import pytest

from tests.integration.stack import COMPOSE_DIR, Stack, eventually
from tests.redis_server import free_port

pytestmark = pytest.mark.integration
IMAGE = f"jobfleet-prometheus:{os.environ.get('JOBFLEET_PROMETHEUS_TAG', 'latest')}"
CONFIG_DIR = COMPOSE_DIR / "prometheus"


def worker_metrics(stack: Stack, container: Any) -> str:
    """The worker's own /metrics, read from inside its container (port 9100 is not published)."""
    code = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9100/metrics').read().decode())"
    return stack.exec(container, "python", "-c", code)


def value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the exposition")


def test_every_worker_exports_metrics_with_its_cgroup_limits(stack: Stack) -> None:
    job_id = stack.submit("echo", {"hello": "metrics"})
    stack.wait_job(job_id)
    workers = stack.workers()
    assert workers
    for container in workers:
        text = worker_metrics(stack, container)
        assert value(text, "jobfleet_container_memory_limit_bytes") == 128 * 1024 * 1024
        assert value(text, "jobfleet_container_cpu_limit_cores") == 0.5
        assert 0 < value(text, "jobfleet_container_memory_usage_bytes") < 128 * 1024 * 1024
        assert value(text, "jobfleet_container_cpu_usage_seconds_total") > 0
        assert value(text, "jobfleet_worker_concurrency") >= 1
        rss = value(text, "process_resident_memory_bytes")
        assert rss < 50 * 1024 * 1024, f"{container.name}: worker RSS {rss / 2**20:.1f} MiB"
    master = stack.http.get("/metrics")
    assert master.status_code == 200
    assert value(master.text, "jobfleet_workers_live") == len(workers)
    assert stack.http.get("/ui").status_code == 200


def _prometheus_image(stack: Stack) -> None:
    try:
        stack.docker.images.get(IMAGE)
    except Exception:  # docker.errors.ImageNotFound
        pytest.fail(f"{IMAGE} is missing: COMPOSE_PROFILES=observability tools/build_images.sh")


@pytest.mark.parametrize(
    "check",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "rules.yml"),
        ("test", "rules", "rules.test.yml"),
    ],
)
def test_promtool_accepts_config_and_rules(stack: Stack, check: tuple[str, ...]) -> None:
    _prometheus_image(stack)
    output = stack.docker.containers.run(
        IMAGE,
        ["promtool", *check],
        entrypoint=[],
        working_dir="/etc/jobfleet",
        remove=True,
        volumes={str(CONFIG_DIR): {"bind": "/etc/jobfleet", "mode": "ro"}},
        stdout=True,
        stderr=True,
    )  # fmt: skip  (raises ContainerError with the output when promtool exits non-zero)
    assert b"SUCCESS" in output, output.decode()


def test_prometheus_scrapes_master_and_every_worker(stack: Stack) -> None:
    _prometheus_image(stack)
    port = free_port()
    cmd = [*stack.compose.compose_command_property, "--profile", "observability"]
    env = {**os.environ, "JOBFLEET_PROMETHEUS_PORT": str(port)}

    def compose(*args: str) -> None:
        done = subprocess.run([*cmd, *args], cwd=COMPOSE_DIR, env=env, capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]

    compose("up", "-d", "--wait", "--no-deps", "prometheus")
    try:
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, trust_env=False)
        workers = len(stack.workers())

        def targets_up() -> dict[str, int] | None:
            active = api.get("/api/v1/targets").json()["data"]["activeTargets"]
            up: dict[str, int] = {}
            for target in active:
                if target["health"] == "up":
                    up[target["labels"]["job"]] = up.get(target["labels"]["job"], 0) + 1
            return up if up.get("master") == 1 and up.get("worker") == workers else None

        eventually(targets_up, 90, f"prometheus to scrape the master and {workers} workers")

        def live() -> float | None:
            result = api.get("/api/v1/query", params={"query": "jobfleet_workers_live"}).json()
            samples = result["data"]["result"]
            return float(samples[0]["value"][1]) if samples else None

        assert eventually(live, 60, "jobfleet_workers_live in prometheus") == workers
        rules = api.get("/api/v1/rules").json()["data"]["groups"]
        names = {rule["name"] for group in rules for rule in group["rules"]}
        assert {"JobfleetNoLiveWorkers", "JobfleetWorkerNearMemoryLimit"} <= names
        api.close()
    finally:
        compose("rm", "-sfv", "prometheus")
        for volume in stack.docker.volumes.list(filters={"name": f"{stack.project}_prometheus"}):
            volume.remove(force=True)  # `down -v` without the profile leaves it
