"""Request hygiene that no route should have to think about.

Repeated query parameters are refused (400): every parameter of this API takes one value, and
when a proxy reads the first of ``?status=a&status=b`` while the app reads the last, a filter
or check can be slipped past one of them (HTTP parameter pollution). Silently taking the last
one also hides client bugs.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from cluster.master.access import send_error

MAX_SHOWN = 5


class RejectRepeatedQuery:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if query:
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            repeated = sorted(
                name for name, count in Counter(n for n, _ in pairs).items() if count > 1
            )
            if repeated:
                names = ", ".join(repr(name[:40]) for name in repeated[:MAX_SHOWN])
                await send_error(send, 400, f"query parameter given more than once: {names}")
                return
        await self.app(scope, receive, send)
