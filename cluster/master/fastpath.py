"""The submit routes served without FastAPI's per-request machinery.

``POST /jobs`` and ``POST /jobs/batch`` are the master's hot path. Their handlers take only the
request and parse the body by hand, so FastAPI's routing, dependency solving and exception
middleware add nothing but cost (measured: about as much CPU as everything else the master
does for a request, Redis excepted). This ASGI middleware calls the very same handlers
(:mod:`cluster.master.jobs`) for exactly those two method + path pairs, and answers their
exceptions with the application's own exception handlers, so status codes, bodies and headers
are identical. It sits inside the access control and query hygiene middlewares (install it
before them: Starlette runs the last added first), so tokens, scopes and the repeated-query
check apply unchanged. Every other request, including ``/jobs/`` (redirected) and the OpenAPI
document of these routes, goes through FastAPI as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cluster.master import jobs

Handler = Callable[[Request], Awaitable[Response]]
ROUTES: dict[str, Handler] = {"/jobs": jobs.submit, "/jobs/batch": jobs.submit_batch}


class SubmitFastPath:
    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner  # whose exception handlers answer errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except Exception as exc:
            response = await self._answer(request, exc)
        await response(scope, receive, send)

    async def _answer(self, request: Request, exc: Exception) -> Response:
        """What the application's handler for ``exc`` answers; re-raised if it has none (the
        server error middleware then answers 500, as for any route)."""
        handlers: dict[Any, Callable[[Request, Exception], Any]] = self.owner.exception_handlers
        for kind in type(exc).__mro__:
            if kind in handlers:
                response = handlers[kind](request, exc)
                answer: Response = await response if inspect.isawaitable(response) else response
                return answer
        raise exc
