"""Reading and checking request bodies: size limits, JSON syntax, and the job specs."""

from __future__ import annotations

import re
from typing import TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from cluster.master.errors import ApiError, describe_validation
from cluster.models import JobSpec
from cluster.settings import Settings

M = TypeVar("M", bound=BaseModel)
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it grows past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body of {declared} bytes is over the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_model(model: type[M], body: bytes) -> M:
    """Validate JSON ``body`` as ``model``: 400 for broken JSON, 422 naming each bad field."""
    if not body.strip():
        raise ApiError(400, "request body is empty; expected a JSON object")
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise ApiError(422, describe_validation(exc)) from None


def check_idempotency_key(value: str | None) -> str | None:
    if value is not None and not IDEMPOTENCY_KEY.match(value):
        raise ApiError(400, "Idempotency-Key must be 1 to 200 printable ASCII characters")
    return value


def check_specs(specs: list[JobSpec], settings: Settings, known_types: frozenset[str]) -> None:
    """Refuse what no worker could run: unknown types or queues, oversized payloads."""
    for number, spec in enumerate(specs):
        where = f"job {number}: " if len(specs) > 1 else ""
        if spec.type not in known_types:
            raise ApiError(
                422,
                f"{where}unknown job type {spec.type!r}; known types: "
                f"{', '.join(sorted(known_types))}",
            )
        if spec.queue not in settings.queues:
            raise ApiError(
                422,
                f"{where}unknown queue {spec.queue!r}; declared queues: "
                f"{', '.join(settings.queues)}",
            )
        size = len(orjson.dumps(spec.payload))
        if size > settings.max_payload_bytes:
            raise ApiError(
                413,
                f"{where}payload of {size} bytes is over the "
                f"{settings.max_payload_bytes}-byte limit",
            )
