"""Every error the API returns is JSON ``{"detail": "<what is wrong>"}`` with a 4xx (or 503)."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException

from cluster import metrics

log = logging.getLogger("jobfleet.master")


class ApiError(Exception):
    """A request the API refuses, with the status and the message the client sees."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def error_response(status: int, detail: object, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps({"detail": detail}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def describe_validation(exc: ValidationError | RequestValidationError) -> str:
    """One readable line per problem: ``jobs.0.max_attempts: Input should be ...``."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(problems[:20])


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        metrics.rejected(request.method, request.url.path, exc.status)
        return error_response(exc.status, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        metrics.rejected(request.method, request.url.path, 422)
        return error_response(422, describe_validation(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        return error_response(exc.status_code, exc.detail, dict(exc.headers or {}))

    @app.exception_handler(RedisError)
    async def _redis_down(request: Request, exc: RedisError) -> Response:
        log.warning("redis unavailable", extra={"error": str(exc), "path": request.url.path})
        return error_response(
            503, f"job store unavailable, retry shortly ({exc})", {"Retry-After": "1"}
        )

    @app.exception_handler(OSError)
    async def _os_error(request: Request, exc: OSError) -> Response:
        log.warning("io error", extra={"error": str(exc), "path": request.url.path})
        return error_response(503, f"temporarily unavailable ({exc})", {"Retry-After": "1"})
