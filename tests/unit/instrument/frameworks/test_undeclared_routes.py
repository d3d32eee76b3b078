"""A route the app serves that the catalog does not declare, in every web integration (Flask, any WSGI app on its
route_name hook, aiohttp, the ASGI middleware on Starlette and Litestar, Quart; Django in ../web/test_django.py):
recorded as "other", counted once in instrumentation_errors_total{reason="undeclared_route"} and logged once, as one
structured line naming the route and the catalog key to declare it under. A scanner's 404 stays quiet."""

from __future__ import annotations

import asyncio
import logging
import re

import httpx
import pytest
from werkzeug.test import Client

from moneypath.catalog.conventions import ErrorReason
from moneypath.instrument import MoneyPathMiddleware
from moneypath.instrument.wsgi import MoneyPathWSGIMiddleware
from tests.unit.instrument.frameworks.conftest import HTTP, errors, sample

KEY = "signals.http_requests_total.labels.route"
UNDECLARED = "/refunds/{refund_id}"
PATHS = ("/refunds/1", "/refunds/2", "/refunds/3", "/orders/7", "/wp-login.php")


def said(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "moneypath.instrument" and r.levelno >= logging.WARNING]


def check(mp, caplog, statuses: list[int]) -> None:
    """What each integration must show after PATHS: the refunds route thrice, a declared order, a 404."""
    assert statuses == [200, 200, 200, 200, 404]
    assert sample(mp, HTTP, route="other", method="GET", status_class="2xx") == 3
    assert sample(mp, HTTP, route="/orders/{order_id}", method="GET", status_class="2xx") == 1
    assert sample(mp, HTTP, route="other", method="GET", status_class="4xx") == 1  # the scanner's 404: quiet
    assert errors(mp, ErrorReason.UNDECLARED_ROUTE) == 1 and errors(mp) == 1
    records = said(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    line = records[0]
    assert line.getMessage() == (
        f"route '{UNDECLARED}' is served but the catalog does not declare it: add it to {KEY} in "
        f"{mp.catalog.path} (http_request_duration_seconds shares the list); recorded as other (counted in "
        f"{mp.catalog.metric('instrumentation_errors_total')}; logged once)")
    assert (line.route, line.catalog_key, line.reason) == (UNDECLARED, KEY, "undeclared_route")


def asgi_get(app) -> list[int]:
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [(await client.get(p)).status_code for p in PATHS]

    return asyncio.run(go())


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    return caplog


def test_flask(mp, logged):
    from flask import Flask

    from moneypath.instrument.flask import MoneyPathFlask

    app = Flask("shop")
    app.add_url_rule("/orders/<int:order_id>", "order", lambda order_id: "order")
    app.add_url_rule("/refunds/<int:refund_id>", "refund", lambda refund_id: "refund")
    MoneyPathFlask(app, moneypath=mp)
    client = app.test_client()
    check(mp, logged, [client.get(p, buffered=True).status_code for p in PATHS])  # buffered: closed, as a server does


def test_any_wsgi_app_on_its_hook(mp, logged):
    def app(environ, start_response):
        found = re.fullmatch(r"/(orders|refunds)/\d+", environ["PATH_INFO"])
        start_response("200 OK" if found else "404 Not Found", [])
        return [b""]

    def route_name(environ):
        found = re.fullmatch(r"/(orders|refunds)/\d+", environ["PATH_INFO"])
        return {"orders": "/orders/{order_id}", "refunds": UNDECLARED}[found[1]] if found else None

    client = Client(MoneyPathWSGIMiddleware(app, moneypath=mp, route_name=route_name))
    statuses = []
    for path in PATHS:
        answer = client.get(path)
        statuses.append(answer.status_code)
        answer.close()
    check(mp, logged, statuses)


def test_aiohttp(mp, logged):
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from moneypath.instrument.aiohttp import instrument_app

    async def ok(request):
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/orders/{order_id}", ok)
    app.router.add_get("/refunds/{refund_id}", ok)
    instrument_app(app, mp)

    async def go():
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            return [(await client.get(p)).status for p in PATHS]

    check(mp, logged, asyncio.run(go()))


def test_asgi_middleware_on_starlette(mp, logged):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def ok(request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/orders/{order_id}", ok), Route("/refunds/{refund_id}", ok)])
    check(mp, logged, asgi_get(MoneyPathMiddleware(app, moneypath=mp)))


def test_asgi_middleware_on_litestar(mp, logged):
    from litestar import Litestar, get
    from litestar.params import FromPath

    @get("/orders/{order_id:int}")
    async def order(order_id: FromPath[int]) -> str:
        return "order"

    @get("/refunds/{refund_id:int}")
    async def refund(refund_id: FromPath[int]) -> str:
        return "refund"

    # logging_config=None: Litestar's own would take the root logger's handlers, the test's capture among them
    app = Litestar([order, refund], logging_config=None)
    check(mp, logged, asgi_get(MoneyPathMiddleware(app, moneypath=mp)))


def test_quart(mp, logged):
    from quart import Quart

    from moneypath.instrument.quart import MoneyPathQuart

    app = Quart("shop")

    @app.get("/orders/<int:order_id>")
    async def order(order_id):
        return "order"

    @app.get("/refunds/<int:refund_id>")
    async def refund(refund_id):
        return "refund"

    MoneyPathQuart(app, moneypath=mp)
    check(mp, logged, asgi_get(app))


def test_after_the_first_time_an_undeclared_route_costs_a_set_lookup(mp, monkeypatch):
    mp.record_request(UNDECLARED, "/refunds/1", "GET", 200, 0.01)
    monkeypatch.setattr(type(mp), "_route_unmatched", lambda *a: pytest.fail("the slow path ran again"))
    for i in range(3):
        mp.record_request(UNDECLARED, f"/refunds/{i}", "GET", 200, 0.01)
    assert errors(mp, ErrorReason.UNDECLARED_ROUTE) == 1
    assert sample(mp, HTTP, route="other", method="GET", status_class="2xx") == 4


def test_strict_mode_raises_it(mp):
    from moneypath.instrument._failures import Unmatched

    mp.strict = True
    with pytest.raises(Unmatched, match=re.escape(f"route '{UNDECLARED}' is served but the catalog does not declare")):
        mp.record_request(UNDECLARED, "/refunds/1", "GET", 200, 0.01)
