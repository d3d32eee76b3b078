"""aiohttp's server (the middleware, resource templates, HTTP exceptions, /metrics) and the generic WSGI middleware
on Bottle, named by its route_name hook, timed to the answer's close()."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
from werkzeug.test import Client

from moneypath.instrument import current_correlation_id
from moneypath.instrument.wsgi import MoneyPathWSGIMiddleware
from moneypath.protocol.correlation_header import HEADER
from tests.unit.instrument.frameworks.conftest import HTTP, SECONDS, errors, moneypath_lines, sample


def test_aiohttp_routes_are_its_resource_templates(mp):
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from moneypath.instrument.aiohttp import instrument_app

    async def order(request):
        return web.json_response({"order": request.match_info["order_id"], "correlation_id": current_correlation_id()})

    async def missing(request):
        raise web.HTTPNotFound()

    async def boom(request):
        raise RuntimeError("provider said no")

    app = web.Application()
    app.router.add_get(r"/orders/{order_id:\d+}", order)
    app.router.add_get("/orders/{order_id}/items/{item}", missing)
    app.router.add_get("/boom", boom)
    instrument_app(app, mp)

    async def go():
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            answers = [await client.get(p, headers={HEADER: "aio-12345678"})
                       for p in ("/orders/1", "/orders/2", "/orders/1/items/x", "/boom", "/wp-login.php")]
            bodies = [await a.read() for a in answers]
            metrics = await (await client.get("/metrics")).read()
            return answers, bodies, metrics

    answers, bodies, metrics = asyncio.run(go())
    assert [a.status for a in answers] == [200, 200, 404, 500, 404]
    assert answers[0].headers[HEADER] == "aio-12345678" and b"aio-12345678" in bodies[0]
    assert answers[2].headers[HEADER] == "aio-12345678"  # an HTTPException's answer carries it too
    assert sample(mp, HTTP, route="/orders/{order_id}", method="GET", status_class="2xx") == 2
    assert sample(mp, HTTP, route="/orders/{order_id}/items/{item}", method="GET", status_class="4xx") == 1
    assert sample(mp, HTTP, route="/boom", method="GET", status_class="5xx") == 1
    assert sample(mp, HTTP, route="other", method="GET", status_class="4xx") == 1
    assert b'route="/orders/{order_id}",status_class="2xx"} 2.0' in metrics
    assert errors(mp) == 0


class ClosingClient(Client):
    """Closes each answer as a WSGI server does (werkzeug's client leaves it open unless buffered)."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def bottle_shop():
    import bottle

    app = bottle.Bottle()

    @app.get("/orders/<order_id:int>")
    def order(order_id):
        return {"order": order_id, "correlation_id": current_correlation_id()}

    @app.get("/stream")
    def stream():
        yield from (b"a", b"b", b"c")

    return app


def bottle_route(environ) -> str | None:
    """Bottle's matched rule (`/orders/<order_id:int>`) as the catalog's `/orders/{order_id}`."""
    route = environ.get("bottle.route")
    return re.sub(r"<(\w+)[^>]*>", r"{\1}", route.rule) if route is not None else None


def test_the_wsgi_middleware_on_bottle_names_routes_by_its_hook(mp):
    app = MoneyPathWSGIMiddleware(bottle_shop(), moneypath=mp, route_name=bottle_route)
    client = ClosingClient(app)
    answer = client.get("/orders/4", headers={HEADER: "bottle-12345678"})
    assert answer.status_code == 200 and answer.headers[HEADER] == "bottle-12345678"
    assert answer.json["correlation_id"] == "bottle-12345678"
    assert client.get("/stream").data == b"abc"
    assert client.get("/wp-login.php").status_code == 404
    assert sample(mp, HTTP, route="/orders/{order_id}", method="GET", status_class="2xx") == 1
    assert sample(mp, HTTP, route="/stream", method="GET", status_class="2xx") == 1
    assert sample(mp, SECONDS, "_count", route="/stream", method="GET") == 1
    assert sample(mp, HTTP, route="other", method="GET", status_class="4xx") == 1
    assert errors(mp) == 0


class Refused(Exception):
    pass


def test_an_exception_is_a_5xx_reraised_as_it_is(mp):
    def broken(environ, start_response):
        start_response("200 OK", [])  # headers chosen, then the app fails
        raise Refused("no")

    app = MoneyPathWSGIMiddleware(broken, moneypath=mp, route_name=lambda environ: "/boom")
    with pytest.raises(Refused, match="no"):
        app({"PATH_INFO": "/boom", "REQUEST_METHOD": "GET"}, lambda *a: None)
    assert sample(mp, HTTP, route="/boom", method="GET", status_class="5xx") == 1
    assert current_correlation_id() is None


def test_without_a_hook_every_request_is_other_and_said_once(mp, caplog):
    def bare(environ, start_response):
        start_response("204 No Content", [])
        return []

    caplog.set_level(logging.WARNING, "moneypath.instrument")
    client = ClosingClient(MoneyPathWSGIMiddleware(bare, moneypath=mp))
    for path in ("/x", "/y", "/metrics"):
        client.get(path)
    assert sample(mp, HTTP, route="other", method="GET", status_class="2xx") == 2  # /metrics is not recorded
    lines = moneypath_lines(caplog)
    assert errors(mp) == 2 and len(lines) == 1 and "pass route_name=" in lines[0]
