"""Storing submitted jobs, and the ``202`` answer of ``POST /jobs`` built without reading back.

``JobQueue.submit`` stores every job atomically (one script per queue) before the master
answers. The answer to a new job is the record as that script wrote it, rebuilt from the spec,
the script's answer (id, status) and the submission time: the master pins the time it hands the
queue through the queue's ``clock`` (a context variable, so concurrent requests each see their
own; ``MasterState.submitter`` is built with :func:`clock`), so ``created_at`` and ``run_at``
are exactly the stored values, and no ``HGETALL`` of the new record is needed. An idempotent
replay still reads the earlier job, which may differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

from cluster.models import JobSpec
from cluster.queue import JobQueue, Submitted, _ms, wall_clock_ms
from cluster.settings import Settings

_PINNED: ContextVar[int | None] = ContextVar("jobfleet_submit_ms", default=None)


def clock() -> int:
    """The master's queue clock (ms): the time :func:`store` pinned in this task, else now."""
    pinned = _PINNED.get()
    return wall_clock_ms() if pinned is None else pinned


async def store(
    queue: JobQueue,
    settings: Settings,
    specs: Sequence[JobSpec],
    idempotency_keys: Sequence[str | None] | None = None,
) -> tuple[int, list[Submitted]]:
    """Store ``specs`` (all or none per queue); returns the submission time (ms) and results.
    ``queue`` must read time through :func:`clock` for that time to be the stored one."""
    now = wall_clock_ms()
    token = _PINNED.set(now)
    try:
        results = await queue.submit(
            specs,
            idempotency_keys,
            default_max_attempts=settings.default_max_attempts,
            default_timeout_s=settings.default_timeout_s,
        )
    finally:
        _PINNED.reset(token)
    return now, results


def accepted_record(
    result: Submitted, spec: JobSpec, now: int, settings: Settings
) -> dict[str, Any]:
    """A job ``store`` just created (``result.created``), as ``GET /jobs/{id}`` shows it now
    (``JobRecord`` in JSON, fields in its order): the values ``submit.lua`` stored."""
    timeout_ms = _ms(spec.timeout_s or settings.default_timeout_s, least=1)
    return {
        "id": result.id,
        "type": spec.type,
        "queue": spec.queue,
        "status": result.status,
        "payload": spec.payload,
        "attempts": 0,
        "max_attempts": spec.max_attempts or settings.default_max_attempts,
        "timeout_s": timeout_ms / 1000,
        "priority": spec.priority,
        "result": None,
        "error": None,
        "worker": None,
        "created_at": now / 1000,
        "run_at": (now + _ms(spec.delay_s)) / 1000,
        "started_at": None,
        "finished_at": None,
        "lease_expires_at": None,
        "history": [],
    }
