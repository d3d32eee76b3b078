"""Pure-ASGI middleware: request metrics by route template, and a correlation id.

Route labels are templates (`/v1/payments/{payment_id}`), never raw paths, read from the scope: Starlette and
FastAPI put the matched route there (`scope["route"]`), Litestar its `path_template`, the Quart extension
(moneypath.instrument.quart) the rule it matched; any other framework names its routes through the `route_name`
hook (the scope to a template). A request that matched no route is recorded as "other" (counted as an
instrumentation error when its path fits a declared route, or when the scope carries no route information at all,
as a Django app's does: use moneypath.instrument.django there). Every answer carries the answering process's
identity (moneypath.instrument._identity). Pure ASGI with pre-bound children keeps the cost to a few microseconds
per request.
"""

from __future__ import annotations

import time

from moneypath.instrument import _identity
from moneypath.instrument._correlation import accept_correlation_id, reset_correlation_id, set_correlation_id
from moneypath.instrument._routes import TemplateCache, typed_template
from moneypath.protocol.correlation_header import HEADER

_HEADER_BYTES = HEADER.encode()
ROUTE_KEY = "moneypath.route"  # the template an integration (Quart's) noted in the scope; None: it matched none
_ROUTING_KEYS = ("router", "route", "path_template", "litestar_app", ROUTE_KEY)  # what tells a framework routed
_TYPED = TemplateCache(typed_template)


class MoneyPathMiddleware:
    """`app.add_middleware(MoneyPathMiddleware, moneypath=mp)` (Starlette/FastAPI) or wrap any ASGI app."""

    def __init__(self, app, moneypath, skip_paths: tuple[str, ...] = ("/metrics",), route_name=None):
        """`route_name(scope) -> str | None`: the request's template in the catalog's form, for a framework whose
        scope this middleware cannot read (called once the app has answered)."""
        self.app = app
        self.mp = moneypath
        self.skip_paths = frozenset(skip_paths)
        self.route_name = route_name

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
                message["headers"] = [*message.get("headers", ()), (_HEADER_BYTES, correlation_id.encode()),
                                      _identity.ASGI]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = scope["path"]
            if path not in self.skip_paths:
                seconds = time.perf_counter() - start
                if self.route_name is None:
                    route = route_template(scope)
                    self.mp.record_request(route, path, scope["method"], status, seconds,
                                           route is not None or _routed(scope))
                else:
                    self.mp.record_request(self._named(scope), path, scope["method"], status, seconds)
            reset_correlation_id(token)

    def _named(self, scope) -> str | None:
        try:
            return self.route_name(scope)
        except Exception:  # noqa: BLE001 - the team's hook must not break the answer
            self.mp._failed("route_name")
            return None


def _routed(scope) -> bool:
    """Whether a framework that routes left its mark in the scope (a request it matched to no route)."""
    return any(key in scope for key in _ROUTING_KEYS)


def route_template(scope) -> str | None:
    """The matched route's path template: Starlette's and FastAPI's `scope["route"]`, Litestar's `path_template`
    (`{order_id:int}` as `{order_id}`), an integration's note; None when none matched."""
    route = scope.get("route")
    if route is not None:
        path = getattr(route, "path", None)
        return path if isinstance(path, str) else None
    template = scope.get("path_template")
    if template is not None:
        return _TYPED[template]
    return scope.get(ROUTE_KEY)
