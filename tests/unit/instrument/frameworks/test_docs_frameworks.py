"""docs/instrumenting.md's Flask, WSGI and ASGI examples, run as the page shows them (read with `code_block`); the
names a snippet leaves to the reader (the team's `charge`, its Bottle app, its handlers) are given here."""

from __future__ import annotations

import asyncio
import logging

import httpx

from moneypath.catalog.conventions import Key
from moneypath.instrument.flask import MoneyPathFlask
from tests.docs_examples import code_block
from tests.unit.instrument.frameworks.conftest import HTTP, errors, sample, write_catalog
from tests.unit.instrument.frameworks.test_aiohttp_wsgi import ClosingClient, bottle_shop

PAGE = "docs/instrumenting.md"


def test_the_flask_example_runs_as_written(tmp_path, monkeypatch):
    (tmp_path / "ops").mkdir()
    write_catalog(tmp_path / "ops")
    monkeypatch.chdir(tmp_path)  # Flask(__name__) of a module it cannot find: its root_path is the working directory
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    text = code_block(PAGE, "Flask")
    assert len([line for line in text.splitlines() if line.strip()]) <= 20  # a team's first page, gunicorn's too
    app_part, _, gunicorn_part = text.partition("# gunicorn.conf.py")
    namespace = {"__name__": "shop_app", "charge": lambda order_id: order_id % 2 == 1}
    exec(app_part, namespace)
    app, mp = namespace["app"], namespace["mp"]
    assert isinstance(namespace["metrics"], MoneyPathFlask)
    client = app.test_client()
    with client.post("/orders/3/pay") as paid:
        assert paid.json == {"order": 3, "outcome": "approved"}
    with client.post("/orders/4/pay") as declined:
        assert declined.json["outcome"] == "declined"
    assert sample(mp, HTTP, route="/orders/{order_id}/pay", method="POST", status_class="2xx") == 2
    assert sample(mp, Key.AUTHORIZATIONS_TOTAL, provider="paystack", method="card", outcome="declined") == 1
    with client.get("/metrics") as metrics:
        assert b'route="/orders/{order_id}/pay",status_class="2xx"} 2.0' in metrics.data
    assert errors(mp) == 0
    directory = tmp_path / "multiproc"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    exec("# gunicorn.conf.py" + gunicorn_part, namespace)
    namespace["on_starting"](server=None)
    assert (directory / ".moneypath-run").exists()  # the run started, anchored on this process


def test_the_wsgi_example_runs_as_written(mp):
    namespace = {"bottle_app": bottle_shop(), "mp": mp}
    exec(code_block(PAGE, "Any WSGI app"), namespace)
    client = ClosingClient(namespace["application"])
    assert client.get("/orders/12").json["order"] == 12
    assert sample(mp, HTTP, route="/orders/{order_id}", method="GET", status_class="2xx") == 1
    assert errors(mp) == 0


def test_the_asgi_examples_run_as_written(mp, caplog):
    from aiohttp import web
    from litestar import Litestar, get
    from quart import Quart

    @get("/orders/new")
    async def order() -> str:
        return "new"

    quart_app = Quart("shop")
    quart_app.add_url_rule("/healthz", "healthz", lambda: "ok")
    aiohttp_app = web.Application()

    async def other_app(scope, receive, send):
        scope["endpoint_template"] = "/stream"  # how this made-up framework says what it matched
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    namespace = {"Litestar": Litestar, "order": order, "quart_app": quart_app, "aiohttp_app": aiohttp_app,
                 "other_app": other_app, "mp": mp}
    text = code_block(PAGE, "aiohttp, Litestar, Quart and other ASGI frameworks")
    litestar_part, _, rest = text.partition("# Quart")
    exec(litestar_part, namespace)
    litestar = namespace["app"]  # the example names both wrapped apps `app`
    exec("# Quart" + rest, namespace)

    async def go():
        for app, path in ((litestar, "/orders/new"), (quart_app, "/healthz"), (namespace["app"], "/anything")):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                assert (await client.get(path)).status_code == 200

    caplog.set_level(logging.WARNING, "moneypath.instrument")
    asyncio.run(go())
    for route in ("/orders/new", "/healthz", "/stream"):
        assert sample(mp, HTTP, route=route, method="GET", status_class="2xx") == 1, route
    assert any(r.resource.canonical == "/metrics" for r in aiohttp_app.router.routes())
    assert aiohttp_app.middlewares[0].__name__ == "moneypath_middleware"
    assert errors(mp) == 0
