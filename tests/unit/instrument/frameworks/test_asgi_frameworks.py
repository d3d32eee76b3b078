"""The ASGI middleware on Litestar (its scope's path_template), Quart (the extension notes Quart's rule) and a
framework it cannot read (everything "other", logged once with how to name routes, or named by route_name)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from moneypath.instrument import MoneyPathMiddleware, current_correlation_id
from moneypath.protocol.correlation_header import HEADER
from tests.unit.instrument.frameworks.conftest import HTTP, errors, moneypath_lines, sample


def get(app, *paths, **kwargs):
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(p, **kwargs) for p in paths]

    return asyncio.run(go())


def test_litestar_routes_are_its_path_templates(mp, caplog):
    from litestar import Litestar
    from litestar import get as route
    from litestar.params import FromPath

    @route("/orders/{order_id:int}")
    async def order(order_id: FromPath[int]) -> dict:
        return {"order": order_id, "correlation_id": current_correlation_id()}

    @route("/orders/new")
    async def new_order() -> str:
        return "new"

    @route("/boom")
    async def boom() -> str:
        raise RuntimeError("provider said no")

    app = MoneyPathMiddleware(Litestar([order, new_order, boom]), moneypath=mp)
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    answers = get(app, "/orders/1", "/orders/2", "/orders/new", "/boom", "/wp-login.php",
                  headers={HEADER: "lite-12345678"})
    assert [a.status_code for a in answers] == [200, 200, 200, 500, 404]
    assert answers[0].json()["correlation_id"] == "lite-12345678" and answers[0].headers[HEADER] == "lite-12345678"
    assert sample(mp, HTTP, route="/orders/{order_id}", method="GET", status_class="2xx") == 2
    assert sample(mp, HTTP, route="/orders/new", method="GET", status_class="2xx") == 1
    assert sample(mp, HTTP, route="/boom", method="GET", status_class="5xx") == 1
    assert sample(mp, HTTP, route="other", method="GET", status_class="4xx") == 1  # a scanner's 404: quiet
    assert errors(mp) == 0 and moneypath_lines(caplog) == []


def test_quart_routes_are_its_rules_as_templates(mp):
    from quart import Quart

    from moneypath.instrument.quart import MoneyPathQuart

    app = Quart("shop")

    @app.get("/orders/<int:order_id>")
    async def order(order_id):
        return {"order": order_id, "correlation_id": current_correlation_id()}

    @app.get("/boom")
    async def boom():
        raise RuntimeError("provider said no")

    MoneyPathQuart(app, moneypath=mp)
    answers = get(app, "/orders/1", "/orders/2", "/boom", "/wp-login.php", headers={HEADER: "quart-12345678"})
    assert [a.status_code for a in answers] == [200, 200, 500, 404]
    assert answers[0].json()["correlation_id"] == "quart-12345678" and answers[0].headers[HEADER] == "quart-12345678"
    assert sample(mp, HTTP, route="/orders/{order_id}", method="GET", status_class="2xx") == 2
    assert sample(mp, HTTP, route="/boom", method="GET", status_class="5xx") == 1
    assert sample(mp, HTTP, route="other", method="GET", status_class="4xx") == 1
    metrics = get(app, "/metrics")[0]
    assert metrics.status_code == 200 and b'route="/orders/{order_id}",status_class="2xx"} 2.0' in metrics.content
    assert errors(mp) == 0


async def unknown_framework(scope, receive, send):
    """An ASGI app whose routing this middleware cannot read."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_an_unknown_framework_is_other_and_says_once_how_to_name_routes(mp, caplog):
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    get(MoneyPathMiddleware(unknown_framework, moneypath=mp), "/a", "/b", "/c")
    assert sample(mp, HTTP, route="other", method="GET", status_class="2xx") == 3
    lines = moneypath_lines(caplog)
    assert errors(mp) == 3 and len(lines) == 1
    assert "saw no route information" in lines[0] and "pass route_name=" in lines[0]


@pytest.mark.parametrize("hook, route, counted", [
    (lambda scope: "/orders/{order_id}" if scope["path"].startswith("/orders/") else None, "/orders/{order_id}", 0),
    (lambda scope: 1 / 0, "other", 1),  # a broken hook: "other", counted, the answer unharmed
])
def test_route_name_names_an_unknown_frameworks_routes(mp, hook, route, counted):
    answers = get(MoneyPathMiddleware(unknown_framework, moneypath=mp, route_name=hook), "/orders/9")
    assert answers[0].status_code == 200
    assert sample(mp, HTTP, route=route, method="GET", status_class="2xx") == 1
    assert errors(mp) >= counted
