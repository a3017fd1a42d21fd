"""Access control: bearer API tokens with scopes, checked before any route runs.

With no token configured (``JOBFLEET_API_TOKENS`` / ``_FILE`` empty) the API is open; compose
then publishes it on 127.0.0.1 only. With tokens, every request needs
``Authorization: Bearer <token>``, except the public paths below:

- ``/healthz`` and ``/readyz``: the compose healthcheck and orchestrators probe them without
  credentials; they reveal only whether the process and its Redis are up.
- ``/docs``, ``/redoc``, ``/openapi.json``: the API's description, and ``/ui``: the status
  page's static HTML. They hold no data (a browser loads them without a token); the operations
  they describe or call (``/ui/summary``) still need one. ``/metrics`` needs ``read``.

Missing, malformed or unknown token: 401 with ``WWW-Authenticate: Bearer`` and one fixed
message (nothing says which part was wrong). Known token without the scope: 403.

Which scope a request needs is decided from method and path alone, failing closed: the two
submit routes need ``submit``; GET/HEAD need ``read``; every other request (cancel, retry, and
any endpoint added later) needs ``admin``.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from cluster.auth import TokenTable

PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/ui"}
)
SUBMIT_ROUTES = frozenset({("POST", "/jobs"), ("POST", "/jobs/batch")})
READ_METHODS = frozenset({"GET", "HEAD"})
UNAUTHORIZED = "missing or invalid API token (Authorization: Bearer <token>)"


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs, or None for a public path."""
    if path in PUBLIC_PATHS:
        return None
    route = path.rstrip("/") or "/"  # `/jobs/` is redirected to `/jobs`: same scope
    if (method, route) in SUBMIT_ROUTES:
        return "submit"
    if method in READ_METHODS:
        return "read"
    return "admin"


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (exactly one such header)."""
    values = [v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"]
    if len(values) != 1:
        return None
    kind, _, token = values[0].decode("latin-1").strip().partition(" ")
    if kind.lower() != "bearer":
        return None
    return token.strip() or None


async def send_error(send: Send, status: int, detail: str, **headers: str) -> None:
    """Answer ``{"detail": ...}`` from ASGI middleware (before any route or handler runs)."""
    body = orjson.dumps({"detail": detail})
    extra = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AccessControl:
    """ASGI middleware: authenticate and authorize, then record who the caller is in
    ``request.state.principal`` (the token's subject; None when the API is open)."""

    def __init__(self, app: ASGIApp, tokens: TokenTable) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tokens.enabled:
            await self.app(scope, receive, send)
            return
        needed = required_scope(scope["method"], scope["path"])
        if needed is None:
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        entry = self.tokens.lookup(token) if token else None
        if entry is None:
            await send_error(send, 401, UNAUTHORIZED, www_authenticate='Bearer realm="jobfleet"')
            return
        if needed not in entry.scopes:
            challenge = f'Bearer realm="jobfleet", error="insufficient_scope", scope="{needed}"'
            detail = f"this API token lacks the {needed!r} scope"
            await send_error(send, 403, detail, www_authenticate=challenge)
            return
        scope.setdefault("state", {})["principal"] = entry.subject
        await self.app(scope, receive, send)
