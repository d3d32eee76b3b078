"""aiohttp's web server: request metrics by the matched resource's template, the correlation id, `/metrics`.

    from moneypath.instrument.aiohttp import instrument_app
    app = web.Application()
    instrument_app(app, mp)   # the middleware first, and GET /metrics

aiohttp writes templates as the catalog does: the label is `request.match_info.route.resource.canonical`
(`/orders/{order_id}`, a typed `{order_id:\\d+}` without its regex). An HTTPException a handler raises is
recorded with its status; any other exception as a 5xx, and re-raised as it is. A streamed answer
(`web.StreamResponse`) is timed until the handler returns it, which is after its last write.
"""

from __future__ import annotations

import asyncio
import time

try:
    from aiohttp import web
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError("moneypath.instrument.aiohttp needs aiohttp: pip install 'moneypath[aiohttp]'") from exc

from moneypath.instrument import _identity
from moneypath.instrument._correlation import accept_correlation_id, reset_correlation_id, set_correlation_id
from moneypath.protocol.correlation_header import HEADER


def middleware(mp, skip_paths: tuple[str, ...] = ("/metrics",)):
    """The aiohttp middleware recording into `mp` (first in `web.Application(middlewares=[...])`)."""
    skip = frozenset(skip_paths)

    @web.middleware
    async def moneypath_middleware(request: web.Request, handler):
        correlation_id = accept_correlation_id(request.headers.get(HEADER))
        token = set_correlation_id(correlation_id)
        status = 500
        start = time.perf_counter()
        try:
            response = await handler(request)
            status = response.status
            if not response.prepared:
                response.headers[HEADER] = correlation_id
                response.headers[_identity.HEADER] = _identity.IDENTITY
            return response
        except web.HTTPException as answer:
            status = answer.status
            answer.headers[HEADER] = correlation_id
            answer.headers[_identity.HEADER] = _identity.IDENTITY
            raise
        finally:
            path = request.path
            if path not in skip:
                resource = request.match_info.route.resource
                route = resource.canonical if resource is not None else None
                mp.record_request(route, path, request.method, status, time.perf_counter() - start)
            reset_correlation_id(token)

    return moneypath_middleware


def metrics_handler(mp):
    """A GET handler serving `mp`'s registry (every worker's values in multi-process mode), rendered off the loop."""
    from moneypath.instrument.exposition import collection_registry, render

    collector = collection_registry(mp.registry)

    async def metrics(request: web.Request) -> web.Response:
        body, content_type = await asyncio.to_thread(render, collector, request.headers.get("Accept", ""))
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    return metrics


def instrument_app(app: web.Application, mp, metrics_path: str | None = "/metrics") -> None:
    """The middleware first in `app.middlewares`, and `metrics_path` (None: not served) answered by metrics_handler."""
    app.middlewares.insert(0, middleware(mp, (metrics_path,) if metrics_path else ()))
    if metrics_path:
        app.router.add_get(metrics_path, metrics_handler(mp))
