"""The runner and the CLI end to end, against an in-process fake master (no docker)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from chaos import history as hist
from chaos.cli import main
from chaos.containers import Cluster
from chaos.observe import Reader, merge_executions, parse_queues
from chaos.runner import RunConfig, RunError, run
from chaos.scenarios import FaultStep, Scenario
from chaos.workload import SubmitPolicy, make_client
from tests.unit.test_chaos_faults import FakeDocker


class FakeMaster:
    """Runs every job at once, in memory. ``forget_every=n`` drops every n-th job after
    acknowledging it (a broken durability story the checker must catch)."""

    def __init__(self, forget_every: int = 0, page: int = 7) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}
        self.lock = threading.Lock()
        self.forget_every = forget_every
        self.page = page
        self.count = 0

    def _create(self, body: dict[str, Any], key: str | None) -> tuple[dict[str, Any], bool]:
        with self.lock:
            if key and key in self.keys and self.keys[key] in self.jobs:
                return self.jobs[self.keys[key]], False
            self.count += 1
            job_id = f"{self.count:032x}"
            t = time.time()
            fails = int(body["payload"].get("times", 0)) if body["type"] == "fail" else 0
            history = [
                {
                    "attempt": n,
                    "worker": "fake-1-ab",
                    "started_at": t + n * 0.001,
                    "finished_at": t + n * 0.001 + 0.0005,
                    "outcome": "failed" if n <= fails else "succeeded",
                    "error": None,
                }
                for n in range(1, fails + 2)
            ]
            job = {
                "id": job_id,
                "type": body["type"],
                "queue": "default",
                "status": "succeeded",
                "payload": body["payload"],
                "attempts": len(history),
                "max_attempts": body.get("max_attempts", 3),
                "created_at": t,
                "started_at": t,
                "finished_at": history[-1]["finished_at"],
                "worker": "fake-1-ab",
                "history": history,
                "result": None,
                "error": None,
            }
            if key:
                self.keys[key] = job_id
            if not (self.forget_every and self.count % self.forget_every == 0):
                self.jobs[job_id] = job
            return job, True

    def _list(self, request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        with self.lock:
            ordered = sorted(self.jobs.values(), key=lambda j: -j["created_at"])
        if cursor is not None:
            ordered = [j for j in ordered if j["created_at"] < float(cursor)]
        page = ordered[: self.page]
        nxt = page[-1]["created_at"] if len(page) == self.page else None
        return httpx.Response(200, json={"jobs": page, "next_cursor": nxt})

    def _job(self, path: str) -> httpx.Response:
        parts = path.strip("/").split("/")
        job = self.jobs.get(parts[1])
        if job is None:
            return httpx.Response(404, json={"detail": "no such job"})
        if len(parts) == 3:
            attempts = [
                {
                    "attempt": h["attempt"],
                    "complete": True,
                    "lines": [{"event": "start"}, {"event": "end", "outcome": h["outcome"]}],
                }
                for h in job["history"]
            ]
            return httpx.Response(200, json={"id": job["id"], "attempts": attempts})
        return httpx.Response(200, json=job)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in ("/readyz", "/healthz"):
            return httpx.Response(200, json={"status": "ready"})
        if path == "/queues":
            return httpx.Response(
                200,
                json={
                    "queues": [
                        {"name": "default", "queued": 0, "running": 0, "scheduled": 0, "failed": 0}
                    ]
                },
            )
        if path == "/workers":
            return httpx.Response(200, json={"workers": [{"id": "fake-1-ab"}]})
        if path == "/jobs" and request.method == "POST":
            job, _ = self._create(
                orjson.loads(request.content), request.headers.get("Idempotency-Key")
            )
            return httpx.Response(202, json=job)
        if path == "/jobs":
            return self._list(request)
        return self._job(path)


def scenario(faults: tuple[FaultStep, ...] = (), expect_valid: bool = True) -> Scenario:
    return Scenario(
        name="unit",
        description="fake",
        seed=3,
        jobs=25,
        workload_s=0.5,
        drain_s=5.0,
        faults=faults,
        concurrency=4,
        lease_s=0.05,
        expect_valid=expect_valid,
    )


def config(tmp_path: Path, master: FakeMaster, cluster: Cluster | None = None) -> RunConfig:
    return RunConfig(
        out_dir=tmp_path / "run",
        transport=httpx.MockTransport(master),
        sample_interval_s=0.05,
        ready_timeout_s=2.0,
        cluster=cluster,
        policy=SubmitPolicy(max_tries=2, retry_budget_s=1.0),
        log=lambda _m: None,
    )


def test_run_against_a_correct_master_is_valid(tmp_path: Path) -> None:
    master = FakeMaster()
    outcome = run(scenario(), config(tmp_path, master))
    assert outcome.result.valid, outcome.result.to_dict()
    assert outcome.exit_code == 0
    counts = outcome.result.counts
    assert counts["submitted"] == counts["ok"] == counts["completed"] == 25
    assert counts["retried"] > 0 and counts["duplicated"] == 0  # fail jobs retry by design
    for name in ("history", "summary", "report", "timeline"):
        assert outcome.artifacts[name].stat().st_size > 0
    saved = hist.load(outcome.history_path, strict=True)
    assert saved == hist.load(outcome.history_path)
    assert saved.meta is not None and saved.meta.seed == 3
    assert {p.name for p in saved.phases} >= {
        "workload_start",
        "workload_end",
        "drain_end",
        "readback_start",
        "readback_end",
    }
    assert len(saved.finals) == 25 and saved.samples
    assert all(e.source == "api+log" for e in saved.executions)
    # Re-checking the saved history gives the same verdict, and so does the CLI.
    assert main(["check", str(outcome.history_path), "--out", str(tmp_path / "re")]) == 0
    assert (tmp_path / "re" / "timeline.png").stat().st_size > 0


def test_run_against_a_forgetful_master_is_invalid(tmp_path: Path) -> None:
    outcome = run(scenario(expect_valid=False), config(tmp_path, FakeMaster(forget_every=5)))
    assert not outcome.result.valid and outcome.exit_code == 1
    assert outcome.result.counts["lost"] == 5
    assert {e["reason"] for e in outcome.result.lost} == {"missing"}
    assert main(["check", str(outcome.history_path)]) == 1


def test_run_injects_scheduled_faults(tmp_path: Path) -> None:
    docker = FakeDocker()
    steps = (
        FaultStep(0.05, "kill", {"target": 0, "hold_s": 0}),
        FaultStep(0.1, "pause", {"target": 1, "duration_s": 0.05}),
    )
    cluster = Cluster("jobfleet", docker, sleep=lambda _s: None)
    outcome = run(scenario(steps), config(tmp_path, FakeMaster(), cluster))
    assert outcome.result.valid
    saved = hist.load(outcome.history_path)
    assert [f.name for f in saved.faults] == ["kill", "pause"]
    assert all(f.error is None for f in saved.faults)
    assert saved.meta is not None and saved.meta.params["workers"] == [
        "jobfleet-worker-1",
        "jobfleet-worker-2",
        "jobfleet-worker-3",
    ]
    assert "heal" in {p.name for p in saved.phases}


def test_run_refuses_remote_targets_and_unready_masters(tmp_path: Path) -> None:
    cfg = config(tmp_path, FakeMaster())
    cfg.url = "http://192.0.2.1:8000"
    with pytest.raises(ValueError, match="non-loopback"):
        run(scenario(), cfg)

    def down(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    cfg = config(tmp_path, FakeMaster())
    cfg.transport, cfg.ready_timeout_s = httpx.MockTransport(down), 0.2
    with pytest.raises(RunError):
        run(scenario(), cfg)


def test_reader_pages_and_stops_at_older_jobs() -> None:
    master = FakeMaster(page=4)
    for n in range(10):
        master._create({"type": "echo", "payload": {"n": n}}, f"k{n}")
    cutoff = sorted(j["created_at"] for j in master.jobs.values())[3]
    reader = Reader(make_client("http://127.0.0.1:8000", transport=httpx.MockTransport(master)))
    ids, info = reader.list_since(cutoff)
    assert len(ids) == 7 and info["error"] is None and info["pages"] == 2
    events = reader.read_job(ids[0])
    assert isinstance(events[0], hist.Final) and events[0].found is True
    missing = reader.read_job("0" * 32)
    assert isinstance(missing[0], hist.Final)
    assert missing == [hist.Final("0" * 32, False, None, missing[0].read_at, http_status=404)]


def test_merge_executions_and_parse_queues() -> None:
    history = [
        {
            "attempt": 1,
            "worker": "w",
            "started_at": 1.0,
            "finished_at": 2.0,
            "outcome": "lease_expired",
        },
        {"attempt": 2, "worker": "v", "started_at": 8.0, "finished_at": None, "outcome": "running"},
    ]
    logs = {
        "attempts": [
            {"attempt": 1, "complete": False, "lines": [{"event": "start"}]},
            {"attempt": 2, "complete": False, "lines": []},
            {"attempt": 3, "complete": True, "lines": [{"event": "end", "outcome": "succeeded"}]},
        ]
    }
    runs = merge_executions("j", history, logs)
    assert [(r.attempt, r.source, r.log_complete) for r in runs] == [
        (1, "api+log", False),
        (2, "api+log", False),
        (3, "log", True),
    ]
    assert runs[2].ended and not runs[0].ended
    assert merge_executions("j", None, None) == []
    body = {
        "queues": [
            {"name": "a", "queued": 2, "running": 1, "scheduled": 0, "failed": 1},
            {"name": "b", "queued": 3, "running": 0, "scheduled": 4, "failed": 0},
        ]
    }
    assert parse_queues(body) == {"queued": 5, "running": 1, "scheduled": 4, "failed": 1}
    assert parse_queues("garbage") == {"queued": 0, "running": 0, "scheduled": 0, "failed": 0}


def test_cli_list_plan_and_bad_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    assert "negative-control" in capsys.readouterr().out
    assert main(["plan", "--scenario", "random", "--seed", "5"]) == 0
    first = capsys.readouterr().out
    assert main(["plan", "--scenario", "random", "--seed", "5"]) == 0
    assert capsys.readouterr().out == first and "seed=5" in first
    assert main(["check", str(tmp_path / "missing.jsonl")]) == 2
    with pytest.raises(SystemExit):
        main(["run", "--scenario", "nope"])
