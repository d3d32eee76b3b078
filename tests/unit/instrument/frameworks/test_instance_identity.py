"""Every web integration answers with the process's identity (MoneyPath-Instance), the same one its /metrics
reports as the info series; a forked child draws its own (Django is in tests/unit/instrument/web)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import Client

from moneypath.catalog.conventions import INSTANCE_HEADER, INSTANCE_ID_LABEL, INSTANCE_INFO
from moneypath.instrument import MoneyPathMiddleware
from moneypath.instrument import _identity as identity
from moneypath.instrument.wsgi import MoneyPathWSGIMiddleware
from tests.unit.instrument.frameworks.test_asgi_frameworks import get


def info_series(mp) -> dict[str, float]:
    """instance_id → value of the info series in the MoneyPath's registry."""
    name = f"{mp.catalog.namespace}_{INSTANCE_INFO}"
    return {s.labels[INSTANCE_ID_LABEL]: s.value for f in mp.registry.collect() for s in f.samples if s.name == name}


def test_the_identity_is_a_token_and_the_pid_and_metrics_report_it(mp):
    token, _, pid = identity.IDENTITY.rpartition("-")
    assert len(token) == 6 and int(pid) > 0
    assert info_series(mp) == {identity.IDENTITY: 1.0}


def test_the_asgi_middleware_answers_with_it(mp):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 404, "headers": [(b"x-shop", b"1")]})
        await send({"type": "http.response.body", "body": b""})

    answers = get(MoneyPathMiddleware(app, moneypath=mp), "/orders/1", "/metrics")
    assert [a.headers[INSTANCE_HEADER] for a in answers] == [identity.IDENTITY] * 2  # /metrics' answer too
    assert answers[0].headers["x-shop"] == "1"


def test_quart_answers_with_it(mp):
    from quart import Quart

    from moneypath.instrument.quart import MoneyPathQuart

    app = Quart("shop")

    @app.get("/orders/<int:order_id>")
    async def order(order_id):
        return {"order": order_id}

    MoneyPathQuart(app, moneypath=mp)
    ok, metrics = get(app, "/orders/1", "/metrics")
    assert ok.headers[INSTANCE_HEADER] == identity.IDENTITY
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    assert [s.labels for s in families[f"{mp.catalog.namespace}_{INSTANCE_INFO}"].samples] == [
        {INSTANCE_ID_LABEL: identity.IDENTITY}]


def test_wsgi_and_flask_answer_with_it(mp):
    from flask import Flask

    from moneypath.instrument.flask import MoneyPathFlask

    def plain(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wsgi = Client(MoneyPathWSGIMiddleware(plain, mp, route_name=lambda environ: None))
    # buffered: the answer is closed as a WSGI server closes it (the middleware's context is reset then)
    assert wsgi.get("/orders/1", buffered=True).headers[INSTANCE_HEADER] == identity.IDENTITY
    app = Flask("shop")

    @app.get("/orders/<int:order_id>")
    def order(order_id):
        return {"order": order_id}

    MoneyPathFlask(app, moneypath=mp)
    client = app.test_client()
    assert [client.get(p, buffered=True).headers[INSTANCE_HEADER] for p in ("/orders/1", "/nowhere", "/metrics")] == [
        identity.IDENTITY] * 3
    assert f'{INSTANCE_ID_LABEL}="{identity.IDENTITY}"' in client.get("/metrics", buffered=True).text


def test_aiohttp_answers_with_it_on_an_answer_and_on_an_http_exception(mp):
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from moneypath.instrument.aiohttp import instrument_app

    async def order(request):
        return web.json_response({"order": request.match_info["order_id"]})

    async def missing(request):
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/orders/{order_id}", order)
    app.router.add_get("/orders/{order_id}/items/{item}", missing)
    instrument_app(app, mp)

    async def go():
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            return [(await client.get(p)).headers.get(INSTANCE_HEADER) for p in ("/orders/1", "/orders/1/items/x")]

    assert asyncio.run(go()) == [identity.IDENTITY] * 2


@pytest.fixture
def restore_identity():
    saved = identity.IDENTITY, identity.ASGI, identity.WSGI
    yield
    identity.IDENTITY, identity.ASGI, identity.WSGI = saved


def test_a_forked_child_draws_its_own_and_reports_only_it(mp, restore_identity):
    parent = identity.IDENTITY
    identity._renew()  # what os.register_at_fork runs in the child
    child = identity.IDENTITY
    assert child != parent and identity.ASGI == (INSTANCE_HEADER.lower().encode(), child.encode())
    assert identity.WSGI == (INSTANCE_HEADER, child)
    assert info_series(mp) == {child: 1.0}
