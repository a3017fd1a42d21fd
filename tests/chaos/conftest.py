"""The chaos tests run against the same kind of compose stack as the integration tests: a
fresh project started from ``compose/compose.yaml`` and torn down afterwards (unless
``JOBFLEET_URL`` points them at a cluster that is already running)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from chaos.containers import Cluster
from tests.chaos.live import Live
from tests.integration.conftest import stack

__all__ = ["live", "stack"]


@pytest.fixture(scope="session")
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
