"""Storing submitted jobs, and the ``202`` answer of ``POST /jobs`` built without reading back.

``JobQueue.submit`` stores every job atomically (one script per queue) before the master
answers. The answer to a new job is the record as that script wrote it, rebuilt from the spec,
the script's answer (id, status) and the submission time, which the master picks and hands the
queue, so ``created_at`` and ``run_at`` are exactly the stored values, and no ``HGETALL`` of the
new record is needed. An idempotent replay still reads the earlier job, which may differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cluster.models import JobSpec
from cluster.queue import JobQueue, Submitted, _ms
from cluster.settings import Settings


async def store(
    queue: JobQueue,
    settings: Settings,
    specs: Sequence[JobSpec],
    idempotency_keys: Sequence[str | None] | None = None,
) -> tuple[int, list[Submitted]]:
    """Store ``specs`` (all or none per queue); returns the submission time (ms) and results."""
    now = queue.clock()
    results = await queue.submit(
        specs,
        idempotency_keys,
        default_max_attempts=settings.default_max_attempts,
        default_timeout_s=settings.default_timeout_s,
        now=now,
    )
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
