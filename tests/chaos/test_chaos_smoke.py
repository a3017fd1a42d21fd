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

import httpx
import pytest

from chaos.containers import Cluster
from chaos.faults import SURVIVABLE
from tests.chaos.live import RUN_TIMEOUT_S, Live, explain

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_smoke_run_is_valid(live: Live) -> None:
    result = live.run("smoke")
    check = result.result
    assert check.valid, explain(result)
    assert check.counts["fault_errors"] == 0, explain(result)
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
    assert check.counts["lost"] > 0, explain(result)
    assert result.exit_code == 1
    # Redis came back with its own configuration: the cluster serves again.
    assert httpx.get(f"{live.url}/readyz", timeout=10, trust_env=False).is_success
