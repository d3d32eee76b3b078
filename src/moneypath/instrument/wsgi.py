"""Any WSGI app (Falcon, Pyramid, Bottle, Flask underneath): request metrics by route template, and a correlation id.

    app = MoneyPathWSGIMiddleware(app, moneypath=mp, route_name=lambda environ: ...)

`route_name(environ) -> str | None` names the request's route in the catalog's `{name}` form once the app has
answered (the framework's routing has then put what it matched in the environ: Bottle's `environ["bottle.route"]`,
Pyramid's `environ["bobo.route"]`...); None means no route matched ("other", quietly unless the path fits a declared
template). Without a hook every request is "other", counted as an instrumentation error and logged once, as the
ASGI middleware does for a framework it cannot read. The time runs until the server closes the answer's iterable,
so a streamed answer is timed to its last chunk; an exception from the app is recorded as a 5xx and re-raised as
it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from moneypath.instrument import _identity
from moneypath.instrument._correlation import accept_correlation_id, reset_correlation_id, set_correlation_id
from moneypath.instrument._routes import check_workers
from moneypath.protocol.correlation_header import HEADER

ENVIRON_HEADER = "HTTP_" + HEADER.upper().replace("-", "_")
_perf = time.perf_counter


class MoneyPathWSGIMiddleware:
    """Wraps a WSGI app: `app.wsgi_app = MoneyPathWSGIMiddleware(app.wsgi_app, moneypath=mp, route_name=...)`."""

    def __init__(self, app, moneypath, route_name: Callable[[dict], str | None] | None = None,
                 skip_paths: tuple[str, ...] = ("/metrics",)):
        self.app = app
        self.mp = moneypath
        self.route_name = route_name
        self.skip_paths = frozenset(skip_paths)
        check_workers(moneypath)

    def __call__(self, environ, start_response):
        correlation_id = accept_correlation_id(environ.get(ENVIRON_HEADER))
        token = set_correlation_id(correlation_id)
        start = _perf()
        answer = _Answer(self, environ, start, token)

        def start_with_id(status, headers, exc_info=None):
            answer.status = int(status[:3])
            headers.append((HEADER, correlation_id))
            headers.append(_identity.WSGI)
            return start_response(status, headers, exc_info)

        try:
            answer.body = self.app(environ, start_with_id)
        except BaseException:
            answer.status = 500
            answer.close()
            raise
        return answer

    def record(self, environ, status: int, seconds: float) -> None:
        path = environ.get("PATH_INFO", "")
        if path in self.skip_paths:
            return
        hook = self.route_name
        if hook is None:
            self.mp.record_request(None, path, environ.get("REQUEST_METHOD", ""), status, seconds, False)
            return
        try:
            route = hook(environ)
        except Exception:  # noqa: BLE001 - the team's hook must not break the answer
            self.mp._failed("route_name")
            route = None
        self.mp.record_request(route, path, environ.get("REQUEST_METHOD", ""), status, seconds)


class _Answer:
    """The app's iterable, passed through; its close() (the server calls it after the last chunk) records."""

    __slots__ = ("middleware", "environ", "start", "token", "status", "body")

    def __init__(self, middleware, environ, start: float, token):
        self.middleware = middleware
        self.environ = environ
        self.start = start
        self.token = token
        self.status = 500
        self.body = ()

    def __iter__(self):
        return iter(self.body)

    def close(self):
        if self.token is None:
            return
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.middleware.record(self.environ, self.status, _perf() - self.start)
            token, self.token = self.token, None
            try:
                reset_correlation_id(token)
            except ValueError:  # closed in another context than the one that answered: nothing to restore
                pass
