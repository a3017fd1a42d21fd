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
    if value is not None and not IDEMPOTENCY_KEY.fullmatch(value):
        raise ApiError(400, "Idempotency-Key must be 1 to 200 printable ASCII characters")
    return value


MIN_TIMEOUT_S = 0.001  # stored in whole milliseconds: anything smaller would become 0


def check_specs(specs: list[JobSpec], settings: Settings, known_types: frozenset[str]) -> None:
    """Refuse what no worker could run: unknown types or queues, oversized payloads."""
    for number, spec in enumerate(specs):
        _check_spec(spec, f"job {number}: " if len(specs) > 1 else "", settings, known_types)


def _check_spec(spec: JobSpec, where: str, settings: Settings, known_types: frozenset[str]) -> None:
    if spec.type not in known_types:
        raise ApiError(
            422,
            f"{where}unknown job type {spec.type!r}; known types: {', '.join(sorted(known_types))}",
        )
    if spec.queue not in settings.queues:
        raise ApiError(
            422,
            f"{where}unknown queue {spec.queue!r}; declared queues: {', '.join(settings.queues)}",
        )
    if spec.timeout_s is not None and spec.timeout_s < MIN_TIMEOUT_S:
        raise ApiError(422, f"{where}timeout_s: must be at least {MIN_TIMEOUT_S} (1 ms)")
    stored = _stored_payload(spec, where)
    if len(stored) > settings.max_payload_bytes:
        raise ApiError(
            413,
            f"{where}payload of {len(stored)} bytes is over the "
            f"{settings.max_payload_bytes}-byte limit",
        )
    if _too_deep(spec.payload, stored, settings.max_payload_depth):
        raise ApiError(
            422, f"{where}payload: nested deeper than {settings.max_payload_depth} levels"
        )


def _stored_payload(spec: JobSpec, where: str) -> bytes:
    """The payload as stored; 422 if it cannot be stored (e.g. an integer over 64 bits)."""
    try:
        return orjson.dumps(spec.payload)
    except orjson.JSONEncodeError as exc:
        raise ApiError(422, f"{where}payload: cannot be stored as JSON ({exc})") from None


def _too_deep(payload: object, stored: bytes, limit: int) -> bool:
    """Whether ``payload`` nests deeper than ``limit``. Each level opens a bracket, so a payload
    whose JSON holds no more brackets than ``limit`` (counting any inside strings too) cannot:
    that test is exact and cheap for nearly every payload; the others are walked."""
    if stored.count(b"{") + stored.count(b"[") <= limit:
        return False
    return json_depth(payload) > limit


def json_depth(value: object) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0, ``{}`` is 1); iterative,
    so no payload can exhaust the stack."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest
