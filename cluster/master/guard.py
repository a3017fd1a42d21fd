"""Admission control for submissions: the per-client rate limit, the queue-depth ceiling, and
a clean answer when Redis is out of memory.

- Rate limit (``JOBFLEET_SUBMIT_RATE`` jobs/s, ``JOBFLEET_SUBMIT_BURST``): one token bucket per
  API token, or per client address when the API is open; a batch costs one token per job.
  Over it: 429 with ``Retry-After``.
- Backpressure (``JOBFLEET_MAX_QUEUE_DEPTH``): a queue whose ready + scheduled jobs would pass
  the ceiling refuses new jobs with 503 and ``Retry-After`` until workers catch up. The check
  reads before it writes, so concurrent submitters may overshoot by one request each: it is a
  bound on memory, not an exact count. The depth is read live (never cached), in the same
  script and round trip as the rate limit (``scripts/ratelimit.lua``): a full queue is refused
  first and takes no tokens.
- Redis at ``maxmemory`` (``noeviction``) refuses writes with an OOM error: 503 with
  ``Retry-After`` and a message saying so, never a 5xx crash.
"""

from __future__ import annotations

import inspect
import logging
from collections import Counter
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.responses import Response
from redis.exceptions import OutOfMemoryError, RedisError, ResponseError

from cluster.master.errors import ApiError, error_response
from cluster.master.state import MasterState
from cluster.models import JobSpec

log = logging.getLogger("jobfleet.master")
FULL_RETRY_AFTER_S = 5
OOM_RETRY_AFTER_S = 10


def client_of(request: Request) -> str:
    """Who a submission is charged to: the API token (set by access control), else the peer
    address. Behind a proxy every client shares the proxy's address: use tokens there."""
    principal = request.scope.get("state", {}).get("principal")  # what request.state reads
    if principal:
        return f"t:{principal}"
    peer = request.client.host if request.client else "unknown"
    return f"ip:{peer}"


async def admit(request: Request, state: MasterState, specs: Sequence[JobSpec]) -> None:
    """Refuse a submission the cluster should not take now (raises ApiError 503 or 429): the
    depth ceiling and the rate limit in one script, one round trip (none with both off)."""
    settings = state.settings
    rate, ceiling = settings.submit_rate, settings.max_queue_depth
    if rate <= 0 and ceiling <= 0:
        return
    wanted: dict[str, int] = {}
    if ceiling > 0:
        wanted = {specs[0].queue: 1} if len(specs) == 1 else Counter(s.queue for s in specs)
    decision = await state.admission.check(
        client_of(request), len(specs), rate, settings.submit_burst, wanted, ceiling
    )
    if decision.full is not None:
        raise ApiError(
            503,
            f"queue {decision.full!r} is full ({decision.depth} jobs waiting, limit {ceiling}); "
            "retry when workers have caught up",
            {"Retry-After": str(FULL_RETRY_AFTER_S)},
        )
    if not decision.allowed:
        raise ApiError(
            429,
            f"too many submissions: the limit is {rate:g} jobs/s "
            f"(bursts of {settings.submit_burst}); retry after {decision.retry_after} s",
            {"Retry-After": decision.retry_after},
        )


def is_out_of_memory(exc: BaseException) -> bool:
    """Redis refused a write at ``maxmemory`` (directly, or from inside a script: redis-py
    maps the ``OOM`` reply to OutOfMemoryError either way)."""
    return isinstance(exc, OutOfMemoryError) or (
        isinstance(exc, ResponseError) and "when used memory > 'maxmemory'" in str(exc)
    )


def install_oom_handler(app: FastAPI) -> None:
    """Answer Redis' OOM refusal with 503 + Retry-After; other Redis replies as before."""
    generic = app.exception_handlers.get(RedisError)

    async def _response_error(request: Request, exc: Exception) -> Response:
        if is_out_of_memory(exc):
            log.warning("redis is out of memory", extra={"path": request.url.path})
            return error_response(
                503,
                "the job store is full (Redis reached its memory limit); nothing was changed, "
                "retry later",
                {"Retry-After": str(OOM_RETRY_AFTER_S)},
            )
        if generic is None:
            return error_response(503, "job store unavailable, retry shortly", {"Retry-After": "1"})
        response = generic(request, exc)
        return await response if inspect.isawaitable(response) else response

    app.add_exception_handler(ResponseError, _response_error)
