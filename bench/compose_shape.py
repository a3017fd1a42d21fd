"""jobfleet in its deployed shape: the compose cluster (redis + master + 3 workers at 0.5 CPU /
128 MiB each), jobs submitted over HTTP.

A throwaway Compose project (``jfbench-<pid>-<random>``, its own network and volumes, the
master published on a free 127.0.0.1 port, a fresh API token with ``submit+read``) runs the
already built images (``nox -s images``); it is always removed with ``down -v``, also on error
or interrupt. Steps:

1. **single**: workers paused (``docker compose pause worker``), N ``echo`` jobs through
   ``POST /jobs`` from C concurrent connections -> submission rate; then the workers are
   unpaused and drain the backlog -> processing rate = (N - 1) / (last - first ``started_at``)
   of the job records (``GET /jobs/{id}``).
2. **batch**: the same with ``POST /jobs/batch`` (batches of 1000 jobs from one connection).
3. **latency**: workers running; one ``POST /jobs`` every 1/rate s (open loop, warm-up not
   counted); latency = ``started_at`` - the moment the request was sent (one host, one clock).

Worker memory is sampled from each worker container's cgroup (v1 or v2) on the host every
0.25 s: the working set (usage - inactive file cache: what ``docker stats`` shows), anonymous
memory (RSS), and at the end the kernel's high-water mark of the whole charge (with the page
cache of the job log files), against the container's limit; OOM kills and restarts are counted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict

from bench.compose_api import Api, submit_batches, submit_singles, wait_drained
from bench.compose_project import (
    ComposeConfig,
    ComposeProject,
    Json,
    inspect,
    log_stderr,
    unavailable_reason,
)
from bench.container_memory import MemorySampler, WorkerMemory, cgroup_dir
from bench.measure import MIB, percentile, rate, span_rate

__all__ = ["ComposeConfig", "run", "unavailable_reason"]


def _processing(records: list[Json], since: float) -> Json:
    succeeded = [r for r in records if r.get("status") == "succeeded"]
    starts = sorted(r["started_at"] for r in succeeded if r.get("started_at"))
    ends = sorted(r["finished_at"] for r in succeeded if r.get("finished_at"))
    return {
        "succeeded": len(succeeded),
        "not_succeeded": len(records) - len(succeeded),
        "retried": sum(1 for r in records if int(r.get("attempts") or 0) > 1),
        "processing_rate": span_rate(starts),
        "finish_rate": span_rate(ends),
        "first_to_last_s": (starts[-1] - starts[0]) if len(starts) > 1 else None,
        "unpause_to_first_start_s": (starts[0] - since) if starts else None,
        "unpause_to_last_finish_s": (ends[-1] - since) if ends else None,
    }


async def _throughput(
    api: Api, project: ComposeProject, sampler: MemorySampler, cfg: ComposeConfig, kind: str
) -> Json:
    """Submit N jobs with the workers paused, then let them drain the backlog."""
    project.pause_workers()
    try:
        with sampler.during(f"{kind}-submit"):
            t0 = time.perf_counter()
            cpu0 = time.process_time()
            if kind == "single":
                ids = await submit_singles(api, cfg.jobs, cfg.connections)
            else:
                ids = await submit_batches(api, cfg.jobs, cfg.batch, cfg.batch_connections)
            submit_s = time.perf_counter() - t0
            client_cpu_s = time.process_time() - cpu0
    finally:
        unpaused = time.time()
        project.unpause_workers()
    with sampler.during(f"{kind}-drain"):
        drained = await wait_drained(api, cfg.drain_timeout_s)
    records = await api.records(ids, cfg.connections)
    out: Json = {
        "api": "POST /jobs" if kind == "single" else f"POST /jobs/batch ({cfg.batch} per request)",
        "connections": cfg.connections if kind == "single" else cfg.batch_connections,
        "jobs": cfg.jobs,
        "submitted": len(ids),
        "submit_s": submit_s,
        "submission_rate": rate(len(ids), submit_s),
        # the submitting process' own CPU: near submit_s means the client was the bottleneck
        "client_cpu_s": client_cpu_s,
        "drained": drained,
    }
    out.update(_processing(records, unpaused))
    out["complete"] = drained and out["succeeded"] == cfg.jobs
    return out


WRK_SCRIPT = """wrk.method = "POST"
local job = '{"type": "echo", "payload": {"i": 0}}'
local batch = tonumber(os.getenv("BENCH_BATCH"))
if batch > 0 then
  wrk.body = '{"jobs": [' .. string.rep(job .. ', ', batch - 1) .. job .. ']}'
else
  wrk.body = job
end
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
"""
BATCH_WRK_CONNECTIONS = 4


async def _wrk(
    api: Api, project: ComposeProject, cfg: ComposeConfig, seconds: float, batch: int = 0
) -> Json:
    """Cross-check of POST /jobs (or, with ``batch``, POST /jobs/batch of that many jobs) with
    wrk, the workers paused; the jobs are drained afterwards, not measured."""
    connections = BATCH_WRK_CONNECTIONS if batch else cfg.connections
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk is not on PATH"}
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT)
        script.flush()
        argv = [
            wrk, "-t2", f"-c{connections}", f"-d{seconds:g}s", "-s", script.name,
            f"{project.url}/jobs/batch" if batch else f"{project.url}/jobs",
        ]  # fmt: skip
        project.pause_workers()
        try:
            done = await asyncio.to_thread(
                subprocess.run,
                argv,
                env={**os.environ, "BENCH_TOKEN": project.token, "BENCH_BATCH": str(batch)},
                capture_output=True,
                text=True,
                timeout=seconds + 30,
                check=False,
            )
        finally:
            project.unpause_workers()
    drained = await wait_drained(api, cfg.drain_timeout_s)
    out: Json = {"connections": connections, "seconds": seconds, "drained": drained}
    total = 0
    for line in done.stdout.splitlines():
        key, _, value = line.strip().partition(":")
        if " requests in " in line:
            total = int(line.split()[0])
        elif key == "Requests/sec":
            out["requests_rate"] = float(value)
        elif key == "Non-2xx or 3xx responses":
            out["errors"] = int(value)
    if "requests_rate" in out:  # only accepted requests count: jobs/s
        accepted = total - int(out.get("errors", 0))
        out["submission_rate"] = accepted * max(batch, 1) / seconds
    if "submission_rate" not in out:
        out["error"] = (done.stderr or done.stdout).strip()[-500:]
    return out


async def _latency(api: Api, sampler: MemorySampler, cfg: ComposeConfig) -> Json:
    """Open loop: one POST /jobs every 1/rate s; latency = started_at - send time."""
    total = round(cfg.latency_rate * (cfg.latency_warmup_s + cfg.latency_seconds))
    sent: dict[str, float] = {}
    response_ms: list[float] = []
    cutoff = 0.0

    async def one(i: int) -> None:
        t = time.time()
        job_id = await api.submit_one({"i": i, "sent": t})
        if t >= cutoff:
            response_ms.append((time.time() - t) * 1000)
        sent[job_id] = t

    with sampler.during("latency"):
        mono0 = time.perf_counter()
        wall0 = time.time()
        cutoff = wall0 + cfg.latency_warmup_s
        tasks: list[asyncio.Task[None]] = []
        max_lag = 0.0
        for i in range(total):
            due = mono0 + i / cfg.latency_rate
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            else:
                max_lag = max(max_lag, now - due)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - mono0
        drained = await wait_drained(api, cfg.drain_timeout_s)
    records = await api.records(list(sent), cfg.connections)
    lat_ms = [
        (r["started_at"] - sent[r["id"]]) * 1000
        for r in records
        if r.get("started_at") and sent[r["id"]] >= cutoff
    ]
    return {
        "rate": cfg.latency_rate,
        "seconds": cfg.latency_seconds,
        "warmup_s": cfg.latency_warmup_s,
        "sent": total,
        "achieved_send_rate": rate(total, elapsed),
        "max_send_lag_s": max_lag,
        "drained": drained,
        "measured": len(lat_ms),
        "complete": drained and len(records) == total,
        "p50_ms": percentile(lat_ms, 50),
        "p90_ms": percentile(lat_ms, 90),
        "p99_ms": percentile(lat_ms, 99),
        "max_ms": max(lat_ms) if lat_ms else None,
        "response_p50_ms": percentile(response_ms, 50),
        "response_p99_ms": percentile(response_ms, 99),
    }


def _worker_limits(containers: list[Json]) -> Json:
    host = [c.get("HostConfig") or {} for c in containers]
    env = (containers[0].get("Config") or {}).get("Env") or [] if containers else []
    concurrency = next(
        (e.split("=", 1)[1] for e in env if e.startswith("JOBFLEET_CONCURRENCY=")), None
    )
    return {
        "count": len(containers),
        "cpus": sorted({h.get("NanoCpus", 0) / 1e9 for h in host}),
        "memory_limit_bytes": sorted({h.get("Memory", 0) for h in host}),
        "concurrency": int(concurrency) if concurrency else None,
        "image": (containers[0].get("Config") or {}).get("Image") if containers else None,
    }


def _restarts(ids: list[str]) -> Json:
    found = inspect(ids)
    return {
        "restarts": sum(int(c.get("RestartCount") or 0) for c in found),
        "oom_killed": sum(1 for c in found if (c.get("State") or {}).get("OOMKilled")),
    }


async def _measure(project: ComposeProject, cfg: ComposeConfig, out: Json) -> None:
    worker_ids = project.container_ids("worker")
    containers = inspect(worker_ids)
    out["workers"] = _worker_limits(containers)
    mems = []
    for c in containers:
        found = cgroup_dir(c)
        mem = WorkerMemory(
            name=str(c.get("Name", "")).lstrip("/"),
            path=found[0] if found else None,
            version=found[1] if found else 0,
            limit_bytes=(c.get("HostConfig") or {}).get("Memory") or None,
        )
        mems.append(mem)
    if not any(m.path for m in mems):
        out["memory_note"] = "no worker cgroup found on this host: memory not measured"
    api = Api(project.url, project.token, max(cfg.connections, cfg.batch_connections))
    try:
        with MemorySampler(mems, cfg.mem_interval_s) as sampler:
            live = await api.wait_workers(cfg.workers, 60)
            out["workers"]["live_at_start"] = live
            await asyncio.sleep(2.0)  # idle reading after start-up
            with sampler.during("wrk"):
                out["single_wrk"] = await _wrk(api, project, cfg, 5.0)
            project.log(f"compose: wrk POST /jobs: {out['single_wrk']}")
            with sampler.during("wrk"):
                # 2 s: at ~20k jobs/s longer would fill the queue-depth limit (503s)
                out["batch_wrk"] = await _wrk(api, project, cfg, 2.0, cfg.batch)
            project.log(f"compose: wrk POST /jobs/batch: {out['batch_wrk']}")
            for kind in ("single", "batch"):
                project.log(f"compose: {kind}: submitting {cfg.jobs} jobs (workers paused) ...")
                out[kind] = await _throughput(api, project, sampler, cfg, kind)
                project.log(f"compose: {kind}: {brief_throughput(out[kind])}")
            project.log(f"compose: latency at {cfg.latency_rate:g} jobs/s ...")
            out["latency"] = await _latency(api, sampler, cfg)
            project.log(f"compose: latency: {brief_latency(out['latency'])}")
        out["memory"] = sampler.summary()
        out["memory"].update(_restarts(worker_ids))
        out["throttled_responses"] = api.throttled
    finally:
        await api.close()


def brief_throughput(data: Json) -> str:
    return (
        f"submission {data['submission_rate'] or 0:,.0f}/s, processing "
        f"{data['processing_rate'] or 0:,.0f}/s ({data['succeeded']}/{data['jobs']} succeeded)"
    )


def brief_latency(data: Json) -> str:
    return f"p50 {data['p50_ms']:.1f} ms, p99 {data['p99_ms']:.1f} ms ({data['measured']} jobs)"


def brief_memory(data: Json) -> str:
    limit = data.get("limit_bytes") or 0
    ws = data.get("peak_working_set_bytes")
    if ws is None:
        return "not measured"
    return (
        f"peak working set {ws / MIB:.1f} MiB of {limit / MIB:.0f} MiB (RSS "
        f"{(data.get('peak_rss_bytes') or 0) / MIB:.1f} MiB, with page cache "
        f"{(data.get('kernel_peak_bytes') or 0) / MIB:.1f} MiB), {data.get('oom_kills')} OOM "
        f"kills, {data.get('restarts')} restarts"
    )


def run(cfg: ComposeConfig, log: Callable[[str], None] = log_stderr) -> Json:
    """Bring the cluster up, measure, always tear it down; the JSON-able figures."""
    out: Json = {"config": asdict(cfg)}
    reason = unavailable_reason()
    if reason is not None:
        out["skipped"] = reason
        return out
    began = time.monotonic()
    project = ComposeProject(cfg, log)
    out["project"] = project.name
    out["config"]["port"] = project.port
    try:
        with project:
            project.up()
            out["up_s"] = time.monotonic() - began
            asyncio.run(_measure(project, cfg, out))
            log(f"compose: memory: {brief_memory(out['memory'])}")
    except Exception as exc:  # recorded; the cluster is down again by now
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
    out["wall_s"] = time.monotonic() - began
    return out
