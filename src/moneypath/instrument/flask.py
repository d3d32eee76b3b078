"""Flask: request metrics by route template, the correlation id, and `/metrics`, as a Flask extension.

    from moneypath.instrument.flask import MoneyPathFlask
    metrics = MoneyPathFlask(app, catalog="ops/moneypath.yaml")   # or MoneyPathFlask(...) then metrics.init_app(app)
    metrics.mp.record_provider_call("paystack", "authorize", "success", 0.21)

The route label is the matched rule in the catalog's form (`/orders/<int:order_id>` is `/orders/{order_id}`),
noted by a before_request hook that runs first; the time, status and correlation id are the WSGI middleware's
(moneypath.instrument.wsgi) around `app.wsgi_app`, so an exception is a 5xx re-raised as it is and a streamed
answer is timed to its last chunk. `/metrics` serves every worker's values in multi-process mode.
"""

from __future__ import annotations

from pathlib import Path

try:
    from flask import Flask, Response, current_app, request
    from flask.globals import request_ctx
    from werkzeug.exceptions import MethodNotAllowed
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError("moneypath.instrument.flask needs Flask: pip install 'moneypath[flask]'") from exc

from moneypath.instrument._routes import TemplateCache, werkzeug_template
from moneypath.instrument._signals import MoneyPath
from moneypath.instrument.wsgi import MoneyPathWSGIMiddleware

EXTENSION = "moneypath"
ROUTE_KEY = "moneypath.route"  # the environ key the before_request hook writes the template to


def _route_of(environ) -> str | None:
    return environ.get(ROUTE_KEY)


class MoneyPathFlask:
    """The extension. `catalog` (a path, relative to the app's root_path; default the app's
    config["MONEYPATH_CATALOG"], else "moneypath.yaml") or `moneypath` (a MoneyPath the service builds itself);
    `metrics_path` where `/metrics` is served (None: not served); `skip_paths` paths not recorded."""

    def __init__(self, app: Flask | None = None, *, catalog: str | Path | None = None,
                 moneypath: MoneyPath | None = None, backend: str = "prometheus",
                 metrics_path: str | None = "/metrics", skip_paths: tuple[str, ...] | None = None):
        self.catalog = catalog
        self.backend = backend
        self.metrics_path = metrics_path
        self.skip_paths = skip_paths if skip_paths is not None else ((metrics_path,) if metrics_path else ())
        self._mp = moneypath
        self._collector = None
        self._templates = TemplateCache(werkzeug_template)
        if app is not None:
            self.init_app(app)

    @property
    def mp(self) -> MoneyPath:
        """The MoneyPath requests are recorded into (built at init_app when only a catalog was given)."""
        if self._mp is None:
            raise RuntimeError("MoneyPathFlask: call init_app(app) first, or pass moneypath=")
        return self._mp

    def init_app(self, app: Flask) -> None:
        if self._mp is None:
            path = Path(self.catalog or app.config.get("MONEYPATH_CATALOG", "moneypath.yaml"))
            self._mp = MoneyPath.from_catalog(path if path.is_absolute() else Path(app.root_path) / path,
                                              self.backend)
        app.extensions[EXTENSION] = self
        # First of the app's hooks: a hook before it that answers would leave the route unnoted ("other").
        app.before_request_funcs.setdefault(None, []).insert(0, self._note_route)
        app.wsgi_app = MoneyPathWSGIMiddleware(app.wsgi_app, self._mp, route_name=_route_of,
                                               skip_paths=tuple(self.skip_paths))
        if self.metrics_path:
            app.add_url_rule(self.metrics_path, "moneypath_metrics", self._metrics_view, methods=["GET"])

    def _note_route(self) -> None:
        current = request._get_current_object()
        rule = current.url_rule
        if rule is None and isinstance(current.routing_exception, MethodNotAllowed):
            rule = _rule_for_another_method(current.routing_exception)
        current.environ[ROUTE_KEY] = self._templates[rule.rule] if rule is not None else None

    def _metrics_view(self):
        from moneypath.instrument.exposition import collection_registry, render

        if self._collector is None:
            self._collector = collection_registry(self.mp.registry)
        body, content_type = render(self._collector, request.headers.get("Accept", ""))
        return Response(body, content_type=content_type)


def _rule_for_another_method(refused: MethodNotAllowed):
    """A 405's rule: the path matched a route, for another method (as Starlette names a 405's route)."""
    try:
        return request_ctx.url_adapter.match(method=refused.valid_methods[0], return_rule=True)[0]
    except Exception:  # noqa: BLE001 - no rule: "other"
        return None


def get_moneypath() -> MoneyPath:
    """The current app's MoneyPath (inside a request or an app context)."""
    return current_app.extensions[EXTENSION].mp
