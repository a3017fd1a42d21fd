"""The chaos suite against the live compose cluster (marker ``chaos``).

By default the tests start a fresh compose stack of their own (the integration tests' ``stack``
fixture: a unique project, torn down afterwards). ``JOBFLEET_URL`` (e.g.
``http://127.0.0.1:8000``) points them at a running cluster instead, with >= 3 workers; an
unreachable cluster is a failure.
``JOBFLEET_PROJECT`` names the compose project (default ``jobfleet``), ``JOBFLEET_CHAOS_SEED``
fixes the seed (printed either way), ``JOBFLEET_CHAOS_OUT`` keeps the run directories.

Order matters: the smoke run (must be VALID) goes first, then the negative control (must
be INVALID with lost > 0), which deliberately destroys acknowledged jobs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chaos import scenarios
from chaos.containers import Cluster
from chaos.faults import SURVIVABLE
from chaos.runner import RunConfig, RunResult, run

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

RUN_TIMEOUT_S = 900


@dataclass(frozen=True)
class Live:
    url: str
    project: str
    seed: int
    out: Path

    def run(self, name: str) -> RunResult:
        scenario = scenarios.build(
            name, self.seed, lease_s=float(os.environ.get("JOBFLEET_LEASE_S", "5"))
        )
        print(scenario.plan())  # the seed and schedule, to reproduce a failure
        return run(scenario, RunConfig(out_dir=self.out / name, url=self.url, project=self.project))


@pytest.fixture(scope="module")
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Live:
    url = os.environ.get("JOBFLEET_URL")
    project = os.environ.get("JOBFLEET_PROJECT", "jobfleet")
    if not url:  # no cluster given: start a fresh compose stack of our own
        stack = request.getfixturevalue("stack")
        url, project = stack.url, stack.project
    try:
        ready = httpx.get(f"{url}/readyz", timeout=10, trust_env=False).is_success
    except httpx.HTTPError as exc:
        pytest.fail(f"master at {url} unreachable: {exc}")
    assert ready, f"master at {url} is not ready"
    workers = Cluster(project).workers(running=True)
    assert len(workers) >= 3, f"need >= 3 running workers in {project!r}, found {len(workers)}"
    out = Path(os.environ.get("JOBFLEET_CHAOS_OUT") or tmp_path_factory.mktemp("chaos"))
    return Live(url, project, int(os.environ.get("JOBFLEET_CHAOS_SEED", "20240607")), out)


def _explain(result: RunResult) -> str:
    data: dict[str, Any] = result.result.to_dict()
    lists = {k: data[k][:5] for k in ("lost", "stuck", "unexpected")}
    return (
        f"counts={data['counts']} first={lists} notes={data['notes']} "
        f"report={result.artifacts.get('report')}"
    )


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_smoke_run_is_valid(live: Live) -> None:
    result = live.run("smoke")
    check = result.result
    assert check.valid, _explain(result)
    assert check.counts["fault_errors"] == 0, _explain(result)
    assert {f["name"] for f in check.recovery} == set(SURVIVABLE)
    assert sum(f["affected"] for f in check.recovery) > 0, "no fault interrupted a job"
    assert check.counts["completed"] >= check.counts["ok"] > 0
    assert len(Cluster(live.project).workers(running=True)) >= 3  # the run healed the cluster
    assert result.artifacts["timeline"].stat().st_size > 0


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_negative_control_is_invalid(live: Live) -> None:
    result = live.run("negative-control")
    check = result.result
    assert not check.valid, "persistence was switched off and Redis killed, yet nothing was lost"
    assert check.counts["lost"] > 0, _explain(result)
    assert result.exit_code == 1
    # Redis came back with its own configuration: the cluster serves again.
    assert httpx.get(f"{live.url}/readyz", timeout=10, trust_env=False).is_success
