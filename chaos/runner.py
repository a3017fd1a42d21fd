"""One chaos run, end to end.

1. preflight: the master answers ``/readyz``; the project's containers are found (faults only)
2. ``meta`` event; queue sampler starts
3. workload thread submits jobs while this thread injects the scenario's faults in order
4. heal: every container of the project running, unpaused and connected again
5. drain until nothing is queued / scheduled / running, or the drain deadline
6. read back every submitted job and every job created during the run
7. check the history, write ``history.jsonl``, ``summary.json``, ``report.md``,
   ``timeline.png`` into the output directory
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from chaos import report
from chaos.checker import CheckResult, check
from chaos.containers import Cluster
from chaos.faults import FaultContext, inject
from chaos.history import Meta, Phase, Recorder, Submit, now
from chaos.observe import Reader, Sampler, drain
from chaos.scenarios import Scenario
from chaos.workload import (
    JobSpec,
    SubmitPolicy,
    Submitter,
    Workload,
    WorkloadStats,
    make_client,
    make_jobs,
    require_loopback,
)

LIST_SKEW_S = 5.0


class RunError(RuntimeError):
    """The run could not start (master not ready, docker unavailable...)."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class RunConfig:
    out_dir: Path
    url: str = "http://127.0.0.1:8000"
    project: str = "jobfleet"
    ready_timeout_s: float = 60.0
    sample_interval_s: float = 0.5
    policy: SubmitPolicy = field(default_factory=SubmitPolicy)
    transport: httpx.BaseTransport | None = None  # tests: an in-process fake master
    cluster: Cluster | None = None  # tests: a fake docker cluster
    log: Callable[[str], None] = _stderr


@dataclass
class RunResult:
    scenario: Scenario
    history_path: Path
    result: CheckResult
    artifacts: dict[str, Path]

    @property
    def exit_code(self) -> int:
        return 0 if self.result.valid else 1


def wait_ready(http: httpx.Client, timeout: float, path: str = "/readyz") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http.get(path, timeout=2.0).is_success:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


class _Run:
    def __init__(self, scenario: Scenario, config: RunConfig) -> None:
        self.scenario, self.config = scenario, config
        self.run_id = f"chaos-{scenario.name}-{scenario.seed}-{uuid.uuid4().hex[:8]}"
        self.stop = threading.Event()
        self.out = Path(config.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.recorder = Recorder(self.out / "history.jsonl")
        self.http = make_client(config.url, transport=config.transport)
        self.cluster: Cluster | None = config.cluster
        self.t0 = 0.0

    def log(self, message: str) -> None:
        elapsed = now() - self.t0 if self.t0 else 0.0
        self.config.log(f"[chaos t+{elapsed:6.1f}s] {message}")

    def phase(self, name: str, **detail: Any) -> None:
        self.recorder.record(Phase(name, now(), detail))

    def preflight(self) -> dict[str, Any]:
        if not wait_ready(self.http, self.config.ready_timeout_s):
            raise RunError(f"master at {self.config.url} not ready")
        if not self.scenario.faults:
            return {}
        if self.cluster is None:
            try:
                self.cluster = Cluster(self.config.project)
            except Exception as exc:  # docker.errors.DockerException and friends
                raise RunError(f"docker unavailable: {exc}") from exc
        workers = [w.name for w in self.cluster.workers(running=True)]
        if not workers:
            raise RunError(f"no running worker in compose project {self.config.project!r}")
        if len(workers) < 3:
            self.log(f"warning: only {len(workers)} running worker(s); the suite expects >= 3")
        return {"workers": workers}

    def nemesis(self, ctx: FaultContext) -> None:
        for step in self.scenario.faults:
            if self.stop.wait(max(0.0, self.t0 + step.at_s - now())):
                return
            self.log(f"fault {step.kind} {step.params}")
            fault = inject(step.kind, ctx, step.params)
            self.recorder.record(fault)
            outcome = f"error: {fault.error}" if fault.error else "done"
            self.log(
                f"fault {fault.name} on {fault.target or '-'}: {outcome} "
                f"({fault.t_end - fault.t_start:.1f}s)"
            )
        self.phase("faults_end")

    def fault_context(self) -> FaultContext | None:
        if self.cluster is None:
            return None
        nemesis_submitter = Submitter(self.http, self.config.policy, origin="nemesis")

        def submit(spec: JobSpec) -> Submit:
            event = nemesis_submitter.submit(spec, self.stop)
            self.recorder.record(event)
            return event

        bait_submitter = Submitter(self.http, self.config.policy, origin="workload")

        def bait(spec: JobSpec) -> Submit:
            event = bait_submitter.submit(spec, self.stop)
            self.recorder.record(event)
            return event

        return FaultContext(
            self.cluster,
            self.http,
            submit,
            self.run_id,
            lease_s=self.scenario.lease_s,
            stop=self.stop,
            bait=bait,
        )

    def workload(self) -> tuple[threading.Thread, list[WorkloadStats]]:
        sc = self.scenario
        specs = make_jobs(
            sc.jobs, seed=sc.seed, run_id=self.run_id, mix=sc.mix, max_attempts=sc.max_attempts
        )
        load = Workload(
            specs,
            Submitter(self.http, self.config.policy),
            self.recorder.record,
            rate=sc.rate,
            concurrency=sc.concurrency,
            max_duration_s=sc.workload_s * 2 + 60,
        )
        stats: list[WorkloadStats] = []
        thread = threading.Thread(
            target=lambda: stats.append(load.run(self.stop)), name="chaos-workload", daemon=True
        )
        return thread, stats

    def heal(self) -> None:
        if self.cluster is None:
            return
        actions = self.cluster.heal()
        ready = wait_ready(self.http, self.config.ready_timeout_s)
        self.phase("heal", actions=actions, ready=ready)
        self.log(f"healed: {actions}")

    def readback(self) -> None:
        meta = self.recorder.history.meta
        since = (meta.start if meta else self.t0) - LIST_SKEW_S
        reader = Reader(self.http)
        listed, info = reader.list_since(since)
        ids = {s.job_id for s in self.recorder.history.submits if s.job_id} | set(listed)
        self.phase("readback_start", jobs=len(ids), listed=len(listed), listing=info)
        self.log(f"reading back {len(ids)} jobs")
        for events in reader.read_all(sorted(ids)):
            self.recorder.record_all(events)
        self.phase("readback_end")

    def execute(self) -> RunResult:
        sc = self.scenario
        self.config.log(sc.plan())
        self.config.log(f"run id {self.run_id}; seed {sc.seed}; output {self.out}")
        found = self.preflight()
        self.t0 = now()
        params = {
            **sc.to_dict(),
            **found,
            "url": self.config.url,
            "policy": asdict(self.config.policy),
        }
        self.recorder.record(
            Meta(
                sc.name,
                sc.seed,
                self.t0,
                params,
                self.run_id,
                self.config.url,
                self.config.project,
                sc.expect_valid,
            )
        )
        sampler = Sampler(self.http, self.recorder.record, self.config.sample_interval_s).start()
        try:
            self.load_and_faults()
            self.phase("drain_start", deadline_s=sc.drain_s)
            ok, last = drain(self.http, now() + sc.drain_s, self.stop)
            self.phase("drain_end", drained=ok, last=asdict(last) if last else None)
            self.log(f"drain {'complete' if ok else 'deadline hit'}")
        finally:
            sampler.stop()
        self.readback()
        return self.finish()

    def load_and_faults(self) -> None:
        thread, stats = self.workload()
        try:
            self.phase("workload_start", rate=self.scenario.rate, jobs=self.scenario.jobs)
            thread.start()
            ctx = self.fault_context()
            if ctx is not None:
                self.nemesis(ctx)
            while thread.is_alive():
                thread.join(timeout=0.5)
            done = asdict(stats[0]) if stats else {}
            self.phase("workload_end", **done)
            self.log(f"workload done: {done}")
        except KeyboardInterrupt:
            self.stop.set()
            thread.join(timeout=60)
            self.phase("interrupted")
            raise
        finally:
            self.heal()

    def finish(self) -> RunResult:
        self.recorder.close()
        self.http.close()
        history = self.recorder.history
        result = check(history)
        artifacts = report.write_all(history, result, self.out)
        artifacts["history"] = self.out / "history.jsonl"
        return RunResult(self.scenario, artifacts["history"], result, artifacts)


def run(scenario: Scenario, config: RunConfig) -> RunResult:
    """Run *scenario* against the cluster at ``config.url`` (loopback only)."""
    require_loopback(config.url)
    runner = _Run(scenario, config)
    try:
        return runner.execute()
    finally:
        runner.recorder.close()
        runner.http.close()
