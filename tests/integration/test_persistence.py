"""Job states and logs live in volumes: they survive restarting every service, and taking the
whole stack down (keeping its volumes) and up again."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.stack import WORKERS, Stack, assert_logs_complete

pytestmark = pytest.mark.integration


def _snapshot(stack: Stack, job_ids: list[str]) -> dict[str, tuple[Any, ...]]:
    """What must not change: status, result, attempt history and the served logs."""
    snap: dict[str, tuple[Any, ...]] = {}
    for job_id in job_ids:
        record = stack.job(job_id)
        assert record["status"] == "succeeded", record
        snap[job_id] = (record["status"], record["result"], record["history"])
        snap[job_id] += (assert_logs_complete(stack, job_id),)
    return snap


@pytest.mark.timeout(900)
def test_state_and_logs_survive_restart_and_down_up(stack: Stack) -> None:
    job_ids = [stack.submit("sleep", {"seconds": 0.1}), stack.submit("echo", {"keep": "me"})]
    for job_id in job_ids:
        stack.wait_job(job_id)
    before = _snapshot(stack, job_ids)

    old_ids = {c.id for c in stack.containers()}
    stack.run_compose("restart")
    stack.up()  # nothing to create: waits until every service is healthy again
    assert {c.id for c in stack.containers()} == old_ids, "restart recreated containers"
    assert _snapshot(stack, job_ids) == before
    after_restart = stack.submit("echo", {"after": "restart"})
    stack.wait_job(after_restart)
    job_ids.append(after_restart)
    before = _snapshot(stack, job_ids)

    stack.run_compose("down")  # keeps the volumes
    assert not stack.containers(running=False), "down left containers"
    stack.up()
    assert not old_ids & {c.id for c in stack.containers()}, "down/up reused containers"
    assert len(stack.workers()) == WORKERS
    assert _snapshot(stack, job_ids) == before
    stack.wait_job(stack.submit("echo", {"after": "down/up"}))
