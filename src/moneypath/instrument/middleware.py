"""Pure-ASGI middleware: request metrics by route template, and a correlation id.

Route labels are templates (`/v1/payments/{payment_id}`), never raw paths; a request
that matched no route is recorded as "other" (counted as an instrumentation error when
its path fits a declared route, or when the app gives no route information at all, as a
Django app does: use moneypath.instrument.django there). Pure ASGI with pre-bound
children keeps the cost to a few microseconds per request.
"""

from __future__ import annotations

import time

from moneypath.instrument._correlation import accept_correlation_id, reset_correlation_id, set_correlation_id
from moneypath.protocol.correlation_header import HEADER

_HEADER_BYTES = HEADER.encode()


class MoneyPathMiddleware:
    """`app.add_middleware(MoneyPathMiddleware, moneypath=mp)` (Starlette/FastAPI) or wrap any ASGI app."""

    def __init__(self, app, moneypath, skip_paths: tuple[str, ...] = ("/metrics",)):
        self.app = app
        self.mp = moneypath
        self.skip_paths = frozenset(skip_paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for key, value in scope["headers"]:
            if key == _HEADER_BYTES:
                incoming = value.decode("latin-1")
                break
        correlation_id = accept_correlation_id(incoming)
        token = set_correlation_id(correlation_id)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (_HEADER_BYTES, correlation_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = scope["path"]
            if path not in self.skip_paths:
                self.mp.record_request(route_template(scope), path, scope["method"], status,
                                       time.perf_counter() - start, "router" in scope or "route" in scope)
            reset_correlation_id(token)


def route_template(scope) -> str | None:
    """The matched route's path template (Starlette and FastAPI set scope["route"]), None when none matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None
