"""The OpenAPI document, completed so that it describes what the API really does.

FastAPI generates most of it; the job routes parse their bodies by hand (``openapi_extra``), and
every error is ``{"detail": "<text>"}`` from our own handlers, which FastAPI cannot know. So:

- request body schemas get their nested models (``$defs``) moved to ``components`` (the batch
  body referred to a ``JobSpec`` component that did not exist), and what the master checks
  beyond the model (declared queues, built-in task types as examples, the 1 ms timeout floor);
- each operation lists the error statuses it can answer, all with the ``Error`` schema (FastAPI
  documents its own 422 body, which this API never sends), and the batch and list responses
  get their schemas;
- with API tokens configured, a bearer security scheme, required by every non-public operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from cluster.keys import STATUSES
from cluster.master.access import required_scope
from cluster.master.body import IDEMPOTENCY_KEY, MIN_TIMEOUT_S
from cluster.settings import Settings
from cluster.tasks import builtin_names

Schema = dict[str, Any]
ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
    "title": "Error",
}
MEANINGS = {
    400: "Malformed request (broken JSON, bad header, repeated query parameter)",
    401: "Missing or invalid API token",
    403: "The API token lacks the scope",
    404: "No such job",
    409: "The job is not in a state that allows this",
    413: "Body, payload or batch over its limit",
    422: "Invalid field, parameter, job type or queue",
    429: "Over the submission rate limit (see Retry-After)",
    503: "Job store unavailable or full, or queue full (see Retry-After)",
}
_BY_ID = (404, 422, 503)
ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("post", "/jobs"): (400, 409, 413, 422, 429, 503),
    ("post", "/jobs/batch"): (400, 413, 422, 429, 503),
    ("get", "/jobs"): (422, 503),
    ("get", "/jobs/{job_id}"): _BY_ID,
    ("get", "/jobs/{job_id}/logs"): _BY_ID,
    ("delete", "/jobs/{job_id}"): (*_BY_ID, 409),
    ("post", "/jobs/{job_id}/retry"): (*_BY_ID, 409),
    ("get", "/queues"): (503,),
    ("get", "/workers"): (503,),
    ("get", "/healthz"): (),
    ("get", "/readyz"): (),  # its 503 has its own body, below
    ("get", "/ui/summary"): (503,),
}
EVERY_ERROR = (400, 404, 409, 413, 422, 429, 503)  # an operation not in the table above
READY_503 = {"type": "object", "properties": {"status": {"type": "string"}}}


def install_openapi(app: FastAPI, settings: Settings, auth: bool) -> None:
    """Serve the completed document (built once, on first request)."""
    generate: Callable[[], Schema] = app.openapi

    def openapi() -> Schema:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate(), settings, auth)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(doc: Schema, settings: Settings, auth: bool) -> Schema:
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            _hoist_body(operation, schemas)
            _parameters(operation)
            _responses(method, path, operation, schemas, auth)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    _job_spec(schemas, settings)
    if auth:
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "jobfleet API token"}
        }
    return doc


def _hoist_body(operation: Schema, schemas: Schema) -> None:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content or "schema" not in content:
        return
    body: Schema = content["schema"]
    schemas.update(body.pop("$defs", {}))
    title = body.get("title")
    if isinstance(title, str) and "$ref" not in body:
        schemas.setdefault(title, body)
        content["schema"] = {"$ref": f"#/components/schemas/{title}"}


def _parameters(operation: Schema) -> None:
    for parameter in operation.get("parameters", []):
        name = parameter.get("name")
        if name == "Idempotency-Key":
            parameter["schema"] = {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern}
        elif name == "status" and parameter.get("in") == "query":
            parameter["schema"] = {"type": "string", "enum": list(STATUSES)}
        elif name == "job_id":
            parameter["description"] = "32 lowercase hex characters; anything else is a 404"


def _responses(method: str, path: str, operation: Schema, schemas: Schema, auth: bool) -> None:
    responses: Schema = operation.setdefault("responses", {})
    codes = [400, *ERRORS.get((method, path), EVERY_ERROR)]  # 400: see hygiene.py
    public = required_scope(method.upper(), path) is None
    if auth and not public:
        codes += [401, 403]
        operation["security"] = [{"bearer": []}]
    for code in sorted(set(codes)):
        responses[str(code)] = {
            "description": MEANINGS[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    if (method, path) == ("get", "/readyz"):
        content = {"application/json": {"schema": READY_503}}
        responses["503"] = {"description": "Redis is unreachable", "content": content}
    success = _SUCCESS.get((method, path))
    if success is not None:
        ok = next(code for code in responses if code.startswith("2"))
        responses[ok]["content"] = {"application/json": {"schema": success}}


_SUCCESS: dict[tuple[str, str], Schema] = {
    ("post", "/jobs/batch"): {
        "type": "object",
        "properties": {"ids": {"type": "array", "items": {"type": "string"}}},
        "required": ["ids"],
    },
    ("get", "/jobs"): {
        "type": "object",
        "properties": {
            "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/JobRecord"}},
            "next_cursor": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        },
        "required": ["jobs", "next_cursor"],
    },
}


def _job_spec(schemas: Schema, settings: Settings) -> None:
    """What the master accepts beyond the model: declared queues only (they are fixed per
    master), task types of which the built-ins are examples (workers announce the others), and
    timeouts of at least 1 ms (``body.MIN_TIMEOUT_S``)."""
    spec = schemas.get("JobSpec", {}).get("properties", {})
    if "type" in spec:
        spec["type"]["examples"] = builtin_names()
    if "queue" in spec:
        spec["queue"]["enum"] = list(settings.queues)
    for option in spec.get("timeout_s", {}).get("anyOf", []):
        if option.get("type") == "number" and "exclusiveMinimum" in option:
            del option["exclusiveMinimum"]
            option["minimum"] = MIN_TIMEOUT_S
