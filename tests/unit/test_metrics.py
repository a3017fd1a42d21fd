"""Prometheus metrics of a real master and a real worker process (cluster/metrics.py), the cgroup
readings behind the container metrics, and that the alert rules and the Grafana dashboard only
use metrics that exist."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import orjson
import pytest

from cluster.cgroup import read_usage
from cluster.metrics import DEFINITIONS
from tests.redis_server import free_port
from tests.unit.conftest import Fleet
from tests.unit.helpers import REPO_ROOT, Api, wait_until

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def scrape(url: str) -> dict[str, float]:
    """``name{labels}`` -> value, from the text exposition."""
    response = httpx.get(url, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in response.text.splitlines():
        match = SAMPLE.match(line)
        if match:
            samples[match[1] + (match[2] or "")] = float(match[3])
    return samples


def test_master_and_worker_metrics(api: Api, fleet: Fleet) -> None:
    port = free_port()
    fleet.worker(metrics_port=port, concurrency=2)
    ok = [api.submit("sleep", {"seconds": 0.05}) for _ in range(5)]
    dead = api.submit("fail", {"times": 5}, max_attempts=2)
    for job_id in ok:
        api.wait_status(job_id, "succeeded")
    api.wait_status(dead, "failed")
    assert api.http.post("/jobs", json={"type": "nope"}).status_code == 422
    assert api.http.post("/jobs", content=b"{broken").status_code == 400
    api.submit("echo", delay_s=600)  # scheduled

    master = scrape(f"{api.url}/metrics")
    assert master['jobfleet_jobs_submitted_total{queue="default"}'] >= 7
    assert master['jobfleet_jobs_rejected_total{status="422"}'] >= 1
    assert master['jobfleet_jobs_rejected_total{status="400"}'] >= 1
    assert master['jobfleet_queue_scheduled{queue="default"}'] == 1
    assert master['jobfleet_queue_dead{queue="default"}'] == 1
    assert master['jobfleet_queue_depth{queue="other"}'] == 0
    assert master["jobfleet_workers_live"] == 1
    assert master['jobfleet_redis_roundtrip_seconds_count{op="ping"}'] >= 1
    assert master['jobfleet_build_info{role="master",version="0.1.0"}'] == 1
    assert "jobfleet_worker_running_jobs" not in master  # a worker's metric, not exported here

    worker = wait_until(lambda: _flushed(port), 10, 0.1, "the worker's counters")
    assert worker['jobfleet_jobs_started_total{queue="default"}'] == 7  # 5 + 2 attempts
    assert worker['jobfleet_jobs_succeeded_total{queue="default"}'] == 5
    assert worker['jobfleet_jobs_retried_total{queue="default"}'] == 1
    assert worker['jobfleet_jobs_failed_total{queue="default"}'] == 1
    sleep = 'outcome="succeeded",queue="default",type="sleep"'
    assert worker[f"jobfleet_job_duration_seconds_count{{{sleep}}}"] == 5
    assert worker[f"jobfleet_job_duration_seconds_sum{{{sleep}}}"] >= 0.25
    assert worker['jobfleet_job_queue_wait_seconds_count{queue="default"}'] >= 1  # sampled
    assert worker['jobfleet_redis_roundtrip_seconds_count{op="claim"}'] >= 1
    assert worker['jobfleet_redis_roundtrip_seconds_count{op="heartbeat"}'] >= 1
    assert worker["jobfleet_worker_concurrency"] == 2
    assert worker["jobfleet_worker_running_jobs"] == 0
    assert worker["process_resident_memory_bytes"] > 0
    if Path("/sys/fs/cgroup").exists():
        assert worker["jobfleet_container_memory_usage_bytes"] > 0
        assert worker["jobfleet_container_cpu_usage_seconds_total"] > 0
    assert "jobfleet_workers_live" not in worker


def _flushed(port: int) -> dict[str, float] | None:
    found = scrape(f"http://127.0.0.1:{port}/metrics")
    done = found.get('jobfleet_jobs_succeeded_total{queue="default"}', 0)
    return found if done >= 5 and 'jobfleet_jobs_failed_total{queue="default"}' in found else None


def test_worker_without_metrics_port_serves_nothing(api: Api, fleet: Fleet) -> None:
    worker = fleet.worker()  # JOBFLEET_METRICS_PORT unset: 0
    job_id = api.submit("echo")
    api.wait_status(job_id, "succeeded")
    assert worker.alive()


# --- cgroup files ----------------------------------------------------------------------------
def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


def test_cgroup_v1(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "memory/memory.usage_in_bytes": "52428800", "memory/memory.limit_in_bytes": "134217728",
        "cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000",
        "cpuacct/cpuacct.usage": "2500000000",
    })  # fmt: skip
    usage = read_usage(root)
    assert (usage.memory_bytes, usage.memory_limit_bytes) == (52_428_800, 134_217_728)
    assert (usage.cpu_seconds, usage.cpu_limit_cores) == (2.5, 0.5)
    write(tmp_path, {
        "memory/memory.limit_in_bytes": "9223372036854771712", "cpu/cpu.cfs_quota_us": "-1",
    })  # fmt: skip
    unlimited = read_usage(root)
    assert (unlimited.memory_limit_bytes, unlimited.cpu_limit_cores) == (None, None)


def test_cgroup_v2(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "cgroup.controllers": "cpu memory pids", "memory.current": "1048576",
        "memory.max": "134217728", "cpu.max": "50000 100000",
        "cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000",
    })  # fmt: skip
    usage = read_usage(root)
    assert (usage.memory_bytes, usage.memory_limit_bytes) == (1_048_576, 134_217_728)
    assert (usage.cpu_seconds, usage.cpu_limit_cores) == (1.5, 0.5)
    write(tmp_path, {"memory.max": "max", "cpu.max": "max 100000"})
    unlimited = read_usage(root)
    assert (unlimited.memory_limit_bytes, unlimited.cpu_limit_cores) == (None, None)


def test_cgroup_missing(tmp_path: Path) -> None:
    usage = read_usage(tmp_path / "nothing")
    assert usage.memory_bytes is None and usage.cpu_seconds is None


# --- rules and dashboard ---------------------------------------------------------------------


CONTAINER = {  # from the cgroup collector (see test_master_and_worker_metrics)
    "jobfleet_container_memory_usage_bytes", "jobfleet_container_memory_limit_bytes",
    "jobfleet_container_cpu_limit_cores", "jobfleet_container_cpu_usage_seconds_total",
}  # fmt: skip


def defined_metrics() -> set[str]:
    names = set(CONTAINER) | {"jobfleet_build_info"}
    for kind, name, *_ in DEFINITIONS.values():
        full = f"jobfleet_{name}"
        if kind == "counter":
            names.add(f"{full}_total")
        elif kind == "histogram":
            names |= {f"{full}_{suffix}" for suffix in ("bucket", "sum", "count")}
        else:
            names.add(full)
    return names


def used_metrics(text: str) -> set[str]:
    return set(re.findall(r"\b(jobfleet_[a-z_]+)\b", text))


@pytest.mark.parametrize("path", ["compose/prometheus/rules.yml", "compose/grafana/jobfleet.json"])
def test_rules_and_dashboard_use_defined_metrics(path: str) -> None:
    text = (REPO_ROOT / path).read_text()
    used = used_metrics(text)
    assert used, f"{path} uses no jobfleet metric"
    unknown = used - defined_metrics()
    assert not unknown, f"{path} uses metrics cluster/metrics.py does not define: {unknown}"
    if path.endswith(".json"):
        dashboard = orjson.loads(text)
        assert dashboard["panels"] and all(p.get("targets") for p in dashboard["panels"]
                                           if p.get("type") != "row")  # fmt: skip
