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
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.measure import MIB, percentile, rate, span_rate
from bench.redis_server import find_free_port

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "compose" / "compose.yaml"
DOCKER_CONFIG = ROOT / ".docker"
SECRETS = (ROOT / "compose" / ".secrets" / "app.env", ROOT / "compose" / ".secrets" / "redis.env")
IMAGES = ("jobfleet-app:latest", "jobfleet-redis:latest")
CGROUP = Path("/sys/fs/cgroup")

Json = dict[str, Any]


@dataclass
class ComposeConfig:
    jobs: int = 20_000
    batch: int = 1000
    connections: int = 32  # concurrent POST /jobs clients
    batch_connections: int = 1  # concurrent POST /jobs/batch clients
    workers: int = 3
    #: JOBFLEET_CONCURRENCY of each worker; None: the compose default (1)
    concurrency: int | None = None
    #: JOBFLEET_SUBMIT_RATE: 0 turns the per-token limit (2000 jobs/s by default) off, so that
    #: the API's capacity is measured rather than the policy
    submit_rate: float = 0.0
    #: JOBFLEET_REDIS_FSYNC; None: the compose default (always)
    fsync: str | None = None
    latency_rate: float = 50.0
    latency_seconds: float = 10.0
    latency_warmup_s: float = 1.0
    drain_timeout_s: float = 600.0
    up_timeout_s: float = 180.0
    port: int = 18000
    mem_interval_s: float = 0.25


def log_stderr(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True, file=sys.stderr)


# --- the compose project --------------------------------------------------------------------
def unavailable_reason() -> str | None:
    """Why the compose cluster cannot be started here, or None."""
    if shutil.which("docker") is None:
        return "docker is not on PATH"
    if not (DOCKER_CONFIG / "cli-plugins" / "docker-compose").exists():
        return f"Compose v2 is not installed in {DOCKER_CONFIG} (run: nox -s images)"
    missing = [str(p) for p in SECRETS if not p.exists()]
    if missing:
        return f"missing {', '.join(missing)} (run: tools/ensure_secrets.sh)"
    probe = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", *IMAGES],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"images {', '.join(IMAGES)} not built (run: nox -s images)"
    return None


class ComposeProject:
    """One throwaway Compose project; a context manager that always ends with ``down -v``."""

    def __init__(self, cfg: ComposeConfig, log: Callable[[str], None] = log_stderr) -> None:
        from cluster.auth import generate_token, hash_token

        self.cfg = cfg
        self.log = log
        self.name = f"jfbench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.port = find_free_port(cfg.port)
        self.token = generate_token()
        self.env = dict(os.environ)
        self.env.update(
            {
                "DOCKER_CONFIG": str(DOCKER_CONFIG),
                "COMPOSE_BAKE": "false",
                "COMPOSE_PROFILES": "",  # no optional services
                "JOBFLEET_PORT": str(self.port),
                "JOBFLEET_API_TOKENS": f"{hash_token(self.token)}:submit+read",
                "JOBFLEET_WORKERS": str(cfg.workers),
                "JOBFLEET_SUBMIT_RATE": f"{cfg.submit_rate:g}",
                "JOBFLEET_MAX_QUEUE_DEPTH": str(max(100_000, 2 * cfg.jobs)),
            }
        )
        if cfg.concurrency is not None:
            self.env["JOBFLEET_CONCURRENCY"] = str(cfg.concurrency)
        if cfg.fsync is not None:
            self.env["JOBFLEET_REDIS_FSYNC"] = cfg.fsync
        self.url = f"http://127.0.0.1:{self.port}"
        self.started = False

    def compose(self, *args: str, timeout: float = 120.0, check: bool = True) -> str:
        argv = ["docker", "compose", "-f", str(COMPOSE_FILE), "-p", self.name, *args]
        done = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv[2:])} exited {done.returncode}: {done.stderr.strip()[-2000:]}"
            )
        return done.stdout

    def up(self) -> None:
        self.started = True  # from here on, `down` must run whatever happens
        self.log(f"compose: up {self.name} (master on {self.url}) ...")
        self.compose(
            "up", "-d", "--wait", "--wait-timeout", str(int(self.cfg.up_timeout_s)),
            "--no-build", "--pull", "never",
            timeout=self.cfg.up_timeout_s + 60,
        )  # fmt: skip

    def down(self) -> None:
        if not self.started:
            return
        self.log(f"compose: down -v {self.name}")
        try:
            self.compose("down", "-v", "--remove-orphans", "--timeout", "10", timeout=180)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            self.log(f"compose: down failed ({exc}); remove project {self.name} by hand")

    def container_ids(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).split()

    def pause_workers(self) -> None:
        self.compose("pause", "worker")

    def unpause_workers(self) -> None:
        self.compose("unpause", "worker")

    def __enter__(self) -> ComposeProject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()


def inspect(ids: list[str]) -> list[Json]:
    out = subprocess.run(
        ["docker", "inspect", *ids], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    data: list[Json] = json.loads(out)
    return data


# --- worker memory from the cgroups ---------------------------------------------------------
def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def _stat(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def cgroup_dir(container: Json) -> tuple[Path, int] | None:
    """The memory cgroup directory of a container on this host and its version (1 or 2)."""
    cid = container["Id"]
    parent = (container.get("HostConfig") or {}).get("CgroupParent") or ""
    if (CGROUP / "cgroup.controllers").exists():  # v2
        candidates = [
            CGROUP / "system.slice" / f"docker-{cid}.scope",
            CGROUP / (parent.strip("/") or "docker") / cid,
        ]
        version = 2
    else:
        memory = CGROUP / "memory"
        candidates = [
            memory / (parent.strip("/") or "docker") / cid,
            memory / "system.slice" / f"docker-{cid}.scope",
        ]
        version = 1
    for path in candidates:
        if path.is_dir():
            return path, version
    return None


@dataclass
class WorkerMemory:
    """Readings of one worker container."""

    name: str
    path: Path | None
    version: int
    limit_bytes: int | None = None
    samples: int = 0
    #: phase -> metric -> peak bytes
    peaks: dict[str, dict[str, int]] = field(default_factory=dict)

    def read(self) -> dict[str, int]:
        """working_set (usage - inactive_file, as ``docker stats``), rss (anon), usage."""
        if self.path is None:
            return {}
        if self.version == 1:
            usage = _int(self.path / "memory.usage_in_bytes") or 0
            stat = _stat(self.path / "memory.stat")
            inactive = stat.get("total_inactive_file", 0)
            rss = stat.get("total_rss", 0) + stat.get("total_rss_huge", 0)
        else:
            usage = _int(self.path / "memory.current") or 0
            stat = _stat(self.path / "memory.stat")
            inactive = stat.get("inactive_file", 0)
            rss = stat.get("anon", 0)
        return {"working_set": max(0, usage - inactive), "rss": rss, "usage": usage}

    def high_water(self) -> Json:
        """The kernel's own records: peak charge (with page cache), limit hits, OOM kills."""
        if self.path is None:
            return {}
        if self.version == 1:
            oom = _stat(self.path / "memory.oom_control").get("oom_kill")
            return {
                "kernel_peak_bytes": _int(self.path / "memory.max_usage_in_bytes"),
                "limit_hits": _int(self.path / "memory.failcnt"),
                "oom_kills": oom,
            }
        events = _stat(self.path / "memory.events")
        return {
            "kernel_peak_bytes": _int(self.path / "memory.peak"),
            "limit_hits": events.get("max"),
            "oom_kills": events.get("oom_kill"),
        }


class MemorySampler:
    """Samples every worker's cgroup on a thread; peaks are kept per phase (``phase`` attr)."""

    def __init__(self, workers: list[WorkerMemory], interval_s: float) -> None:
        self.workers = workers
        self.interval_s = interval_s
        self.phase = "idle"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cgroup-sampler", daemon=True)

    def sample(self) -> None:
        phase = self.phase
        for worker in self.workers:
            reading = worker.read()
            if not reading:
                continue
            worker.samples += 1
            peaks = worker.peaks.setdefault(phase, {})
            for key, value in reading.items():
                peaks[key] = max(peaks.get(key, 0), value)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @contextlib.contextmanager
    def during(self, phase: str) -> Iterator[None]:
        previous, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.sample()
            self.phase = previous

    def summary(self) -> Json:
        per_worker = []
        overall: dict[str, int] = {}
        phases: dict[str, dict[str, int]] = {}
        for worker in self.workers:
            entry: Json = {
                "name": worker.name,
                "cgroup": str(worker.path) if worker.path else None,
                "limit_bytes": worker.limit_bytes,
                "samples": worker.samples,
                "peaks": worker.peaks,
                **worker.high_water(),
            }
            per_worker.append(entry)
            for phase, peaks in worker.peaks.items():
                into = phases.setdefault(phase, {})
                for key, value in peaks.items():
                    into[key] = max(into.get(key, 0), value)
                    overall[key] = max(overall.get(key, 0), value)
        kernel = [w["kernel_peak_bytes"] for w in per_worker if w.get("kernel_peak_bytes")]
        limits = [w["limit_bytes"] for w in per_worker if w.get("limit_bytes")]
        return {
            "source": f"cgroup v{self.workers[0].version}" if self.workers else None,
            "interval_s": self.interval_s,
            "limit_bytes": min(limits) if limits else None,
            "peak_working_set_bytes": overall.get("working_set"),
            "peak_rss_bytes": overall.get("rss"),
            "peak_usage_bytes": overall.get("usage"),
            "kernel_peak_bytes": max(kernel) if kernel else None,
            "oom_kills": sum(w.get("oom_kills") or 0 for w in per_worker),
            "limit_hits": sum(w.get("limit_hits") or 0 for w in per_worker),
            "per_phase": phases,
            "workers": per_worker,
        }


# --- HTTP -----------------------------------------------------------------------------------
class Api:
    """The master's API over one pool of keep-alive connections."""

    def __init__(self, url: str, token: str, connections: int) -> None:
        self.http = httpx.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(60.0),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )
        self.throttled = 0  # 429/503 answers waited out

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, body: Json | None = None) -> Any:
        for _ in range(100):
            response = await self.http.request(method, path, json=body)
            if response.status_code in (429, 503):
                self.throttled += 1
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code >= 400:
                raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text}")
            return response.json()
        raise RuntimeError(f"{method} {path}: still refused after 100 retries")

    async def submit_one(self, payload: Json) -> str:
        data = await self.call("POST", "/jobs", {"type": "echo", "payload": payload})
        return str(data["id"])

    async def submit_batch(self, payloads: list[Json]) -> list[str]:
        jobs = [{"type": "echo", "payload": p} for p in payloads]
        data = await self.call("POST", "/jobs/batch", {"jobs": jobs})
        return [str(i) for i in data["ids"]]

    async def backlog(self) -> int:
        data = await self.call("GET", "/queues")
        return sum(q["queued"] + q["running"] + q["scheduled"] for q in data["queues"])

    async def records(self, ids: list[str], connections: int) -> list[Json]:
        out: list[Json] = []
        it = iter(ids)

        async def reader() -> None:
            for job_id in it:
                out.append(await self.call("GET", f"/jobs/{job_id}"))

        await asyncio.gather(*(reader() for _ in range(connections)))
        return out

    async def wait_workers(self, count: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while True:
            live = len((await self.call("GET", "/workers"))["workers"])
            if live >= count or time.monotonic() > deadline:
                return live
            await asyncio.sleep(0.5)


async def _submit_singles(api: Api, n: int, connections: int) -> list[str]:
    ids: list[str] = []
    counter = iter(range(n))

    async def client() -> None:
        for i in counter:
            ids.append(await api.submit_one({"i": i}))

    await asyncio.gather(*(client() for _ in range(connections)))
    return ids


async def _submit_batches(api: Api, n: int, batch: int, connections: int) -> list[str]:
    chunks = iter(range(0, n, batch))
    ids: list[str] = []

    async def client() -> None:
        for start in chunks:
            count = min(batch, n - start)
            ids.extend(await api.submit_batch([{"i": start + k} for k in range(count)]))

    await asyncio.gather(*(client() for _ in range(connections)))
    return ids


async def _wait_drained(api: Api, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await api.backlog() == 0:
            return True
        await asyncio.sleep(0.25)
    return False


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
                ids = await _submit_singles(api, cfg.jobs, cfg.connections)
            else:
                ids = await _submit_batches(api, cfg.jobs, cfg.batch, cfg.batch_connections)
            submit_s = time.perf_counter() - t0
            client_cpu_s = time.process_time() - cpu0
    finally:
        unpaused = time.time()
        project.unpause_workers()
    with sampler.during(f"{kind}-drain"):
        drained = await _wait_drained(api, cfg.drain_timeout_s)
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
    drained = await _wait_drained(api, cfg.drain_timeout_s)
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
        drained = await _wait_drained(api, cfg.drain_timeout_s)
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
