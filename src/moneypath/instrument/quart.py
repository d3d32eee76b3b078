"""Quart: the ASGI middleware around `app.asgi_app`, the route noted from Quart's own rule, and `/metrics`.

    from moneypath.instrument.quart import MoneyPathQuart
    MoneyPathQuart(app, moneypath=mp)

Quart keeps the matched rule on its request (`request.url_rule`, werkzeug's syntax: `/orders/<int:order_id>`),
not in the scope; a before_request hook that runs first writes it in the catalog's form where the ASGI
middleware (moneypath.instrument.middleware) reads it. Everything else is that middleware's.
"""

from __future__ import annotations

import asyncio

try:
    from quart import Quart, Response, request
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError("moneypath.instrument.quart needs Quart: pip install 'moneypath[quart]'") from exc

from moneypath.instrument._routes import TemplateCache, werkzeug_template
from moneypath.instrument.middleware import ROUTE_KEY, MoneyPathMiddleware

EXTENSION = "moneypath"


class MoneyPathQuart:
    """The extension: `MoneyPathQuart(app, moneypath=mp)` or `MoneyPathQuart(moneypath=mp).init_app(app)`;
    `metrics_path` where `/metrics` is served (None: not served)."""

    def __init__(self, app: Quart | None = None, *, moneypath, metrics_path: str | None = "/metrics"):
        self.mp = moneypath
        self.metrics_path = metrics_path
        self._templates = TemplateCache(werkzeug_template)
        self._collector = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Quart) -> None:
        app.extensions[EXTENSION] = self
        app.before_request_funcs.setdefault(None, []).insert(0, self._note_route)
        app.asgi_app = MoneyPathMiddleware(app.asgi_app, self.mp,
                                           skip_paths=(self.metrics_path,) if self.metrics_path else ())
        if self.metrics_path:
            app.add_url_rule(self.metrics_path, "moneypath_metrics", self._metrics_view, methods=["GET"])

    async def _note_route(self) -> None:
        current = request._get_current_object()
        rule = current.url_rule
        current.scope[ROUTE_KEY] = self._templates[rule.rule] if rule is not None else None

    async def _metrics_view(self):
        from moneypath.instrument.exposition import collection_registry, render

        if self._collector is None:
            self._collector = collection_registry(self.mp.registry)
        body, content_type = await asyncio.to_thread(render, self._collector, request.headers.get("Accept", ""))
        return Response(body, content_type=content_type)
