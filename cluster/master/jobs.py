"""The job endpoints: submit, batch submit, read, list, cancel, retry, logs."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cluster import metrics
from cluster.keys import STATUSES
from cluster.master.body import check_idempotency_key, check_specs, parse_model, read_body
from cluster.master.errors import ApiError
from cluster.master.guard import admit
from cluster.master.state import MasterState
from cluster.master.submission import accepted_record, store
from cluster.models import JOB_ID_PATTERN, BatchSpec, JobRecord, JobSpec
from cluster.queue import list_jobs
from cluster.worker.logfile import read_job_logs

router = APIRouter(tags=["jobs"])
IDEM_HEADER = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {}}
_JOB_ID = re.compile(JOB_ID_PATTERN)


def _state(request: Request) -> MasterState:
    state: MasterState = request.app.state.master
    return state


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(data), status_code=status, media_type="application/json", headers=headers
    )


def _schema(model: type[JobSpec] | type[BatchSpec], *parameters: dict[str, Any]) -> dict[str, Any]:
    """The body (parsed by hand, see ``body.py``) and headers (read by hand: cheaper than a
    FastAPI dependency on the hot path) of a submit route, for the OpenAPI document."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    extra: dict[str, Any] = {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}
    }
    if parameters:
        extra["parameters"] = list(parameters)
    return extra


def _job_id(job_id: str) -> str:
    if not _JOB_ID.fullmatch(job_id):  # not match: `$` also matches before a final \n
        raise ApiError(404, "no such job: a job id is 32 lowercase hex characters")
    return job_id


async def _record(state: MasterState, job_id: str) -> JobRecord:
    record = await state.queue.get(_job_id(job_id))
    if record is None:
        raise ApiError(404, f"no such job {job_id}")
    return record


@router.post(
    "/jobs", status_code=202, response_model=JobRecord, openapi_extra=_schema(JobSpec, IDEM_HEADER)
)
async def submit(request: Request) -> Response:
    """Accept one job. With an ``Idempotency-Key``, a repeat returns the first job."""
    state = _state(request)
    key = check_idempotency_key(request.headers.get("idempotency-key"))
    spec = parse_model(JobSpec, await read_body(request, state.settings.max_body_bytes))
    check_specs([spec], state.settings, await state.task_types())
    await admit(request, state, [spec])  # queue depth (503), rate limit (429)
    now, (result,) = await store(state.submitter, state.settings, [spec], [key])
    metrics.submitted(spec.queue, int(result.created))
    headers = {"Location": f"/jobs/{result.id}"}
    if result.created:  # stored just now, from these values: no need to read it back
        return _json(accepted_record(result, spec, now, state.settings), 202, headers)
    headers["Idempotent-Replay"] = "true"
    record = await state.queue.get(result.id)
    if record is None:  # only if its TTL ran out between the two calls
        raise ApiError(409, f"job {result.id} for this Idempotency-Key has expired")
    return _json(record.model_dump(mode="json"), 202, headers)


@router.post("/jobs/batch", status_code=202, openapi_extra=_schema(BatchSpec))
async def submit_batch(request: Request) -> Response:
    """Accept many jobs in one request (all or none): returns their ids in order."""
    state = _state(request)
    batch = parse_model(BatchSpec, await read_body(request, state.settings.max_body_bytes))
    if len(batch.jobs) > state.settings.max_batch:
        raise ApiError(
            413, f"batch of {len(batch.jobs)} jobs is over the {state.settings.max_batch}-job limit"
        )
    check_specs(batch.jobs, state.settings, await state.task_types())
    await admit(request, state, batch.jobs)  # queue depth (503), rate limit (429)
    _, results = await store(state.submitter, state.settings, batch.jobs)
    metrics.submitted_batch(spec.queue for spec in batch.jobs)
    return _json({"ids": [r.id for r in results]}, 202)


@router.get("/jobs/{job_id}", response_model=JobRecord)
async def get_job(request: Request, job_id: str) -> Response:
    """One job with its attempt history."""
    return _json((await _record(_state(request), job_id)).model_dump(mode="json"))


@router.get("/jobs")
async def get_jobs(
    request: Request,
    status: Annotated[str | None, Query(description=f"one of {', '.join(STATUSES)}")] = None,
    queue: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(ge=0, description="next_cursor of the last page")] = None,
) -> Response:
    """Jobs newest first, filtered by status and queue, a page at a time."""
    if status is not None and status not in STATUSES:
        raise ApiError(422, f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    records, next_cursor = await list_jobs(_state(request).queue, status, limit, cursor)
    jobs = [r.model_dump(mode="json") for r in records if queue is None or r.queue == queue]
    return _json({"jobs": jobs, "next_cursor": next_cursor})


@router.delete("/jobs/{job_id}", response_model=JobRecord)
async def cancel_job(request: Request, job_id: str) -> Response:
    """Cancel a job that has not started; 409 if it is running or finished."""
    state = _state(request)
    cancelled, status = await state.queue.cancel(_job_id(job_id))
    if not status:
        raise ApiError(404, f"no such job {job_id}")
    if not cancelled:
        raise ApiError(
            409, f"job {job_id} is {status}; only queued or scheduled jobs can be cancelled"
        )
    return _json((await _record(state, job_id)).model_dump(mode="json"))


@router.post("/jobs/{job_id}/retry", response_model=JobRecord, status_code=202)
async def retry_job(request: Request, job_id: str) -> Response:
    """Re-queue a failed (dead-lettered) or cancelled job with a fresh attempt budget."""
    state = _state(request)
    requeued, status = await state.queue.retry(_job_id(job_id))
    if not status:
        raise ApiError(404, f"no such job {job_id}")
    if not requeued:
        raise ApiError(
            409, f"job {job_id} is {status}; only failed or cancelled jobs can be retried"
        )
    return _json((await _record(state, job_id)).model_dump(mode="json"), 202)


@router.get("/jobs/{job_id}/logs")
async def job_logs(request: Request, job_id: str) -> Response:
    """The job's log records from the shared log volume, attempt by attempt."""
    state = _state(request)
    attempts = await asyncio.to_thread(read_job_logs, state.settings.log_dir, _job_id(job_id))
    if not attempts and await state.queue.get(job_id) is None:
        raise ApiError(404, f"no such job {job_id}")
    return _json({"id": job_id, "attempts": attempts})
