"""Typed job models: what a client submits, and what a job record looks like.

Records are stored in Redis as hashes of JSON-encoded or numeric fields (see ``cluster.keys``);
``JobRecord.from_hash`` is the one decoder. Times leave this module as epoch seconds (float).
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from cluster.settings import QUEUE_NAME_PATTERN

JobStatus = Literal["queued", "scheduled", "running", "succeeded", "failed", "cancelled"]
AttemptOutcome = Literal[
    "running",
    "succeeded",
    "failed",
    "timeout",
    "lease_expired",
    "released",
    "stale_succeeded",
    "stale_failed",
    "stale_timeout",
]
JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
TYPE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$"


class JobSpec(BaseModel):
    """A job as a client submits it (the body of ``POST /jobs``)."""

    model_config = ConfigDict(extra="forbid", strict=False)

    type: str = Field(pattern=TYPE_PATTERN, description="a task type a worker knows")
    payload: dict[str, Any] = Field(default_factory=dict, description="the task's arguments")
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    timeout_s: float | None = Field(default=None, gt=0, le=86_400)
    delay_s: float = Field(default=0.0, ge=0, le=30 * 86_400)
    queue: str = Field(default="default", pattern=QUEUE_NAME_PATTERN)
    priority: int = Field(default=0, ge=-100, le=100, description="higher runs first")


class BatchSpec(BaseModel):
    """The body of ``POST /jobs/batch``."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[JobSpec] = Field(min_length=1)


class Attempt(BaseModel):
    """One execution of a job: who ran it, when, and how it ended."""

    attempt: int
    worker: str
    started_at: float
    finished_at: float | None = None
    outcome: AttemptOutcome
    error: str | None = None
    duration_s: float | None = None


class JobRecord(BaseModel):
    """A job as the API returns it."""

    id: str
    type: str
    queue: str
    status: JobStatus
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    timeout_s: float
    priority: int
    result: Any = None
    error: str | None = None
    worker: str | None = None
    created_at: float
    run_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    lease_expires_at: float | None = None
    history: list[Attempt] = Field(default_factory=list)

    @classmethod
    def from_hash(cls, fields: dict[str, str]) -> JobRecord:
        """Decode a ``jf:job:{id}`` hash (str keys and values) into a record."""
        history = sorted(
            (
                Attempt.model_validate(_attempt_dict(v))
                for k, v in fields.items()
                if k.startswith("att:")
            ),
            key=lambda a: a.attempt,
        )
        return cls(
            id=fields["id"],
            type=fields["type"],
            queue=fields["queue"],
            status=fields["status"],  # type: ignore[arg-type]
            payload=orjson.loads(fields["payload"]),
            attempts=int(fields["attempts"]),
            max_attempts=int(fields["max_attempts"]),
            timeout_s=int(fields["timeout_ms"]) / 1000,
            priority=int(fields["priority"]),
            result=orjson.loads(fields["result"]) if "result" in fields else None,
            error=fields.get("error"),
            worker=fields.get("worker"),
            created_at=_seconds(fields["created_at"]) or 0.0,
            run_at=_seconds(fields.get("run_at")),
            started_at=_seconds(fields.get("started_at")),
            finished_at=_seconds(fields.get("finished_at")),
            lease_expires_at=_seconds(fields.get("lease_expires_at")),
            history=history,
        )


def _seconds(ms: str | None) -> float | None:
    return None if ms is None or ms == "" else int(float(ms)) / 1000


def _attempt_dict(raw: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(raw)
    for name in ("started_at", "finished_at"):
        if data.get(name) is not None:
            data[name] = data[name] / 1000
    return data
