"""The ASGI middleware (moneypath.instrument.middleware) on apps whose routes it cannot see: a Django app (no
route information at all) and a Starlette app whose template differs from the catalog's. Both record "other",
count an instrumentation error per request and log one line; a plain 404 stays quiet."""

from __future__ import annotations

import asyncio
import logging

import httpx
from django.test import override_settings
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from moneypath.catalog.conventions import Key
from moneypath.instrument import MoneyPathMiddleware
from tests.unit.instrument.web.conftest import errors, sample

HTTP = Key.HTTP_REQUESTS_TOTAL


def get(app, *paths):
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(p) for p in paths]

    return asyncio.run(go())


def moneypath_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "moneypath.instrument"]


def test_a_django_app_under_the_asgi_middleware_is_counted_and_logged_once(mp, caplog):
    from django.core.handlers.asgi import ASGIHandler

    with override_settings(MIDDLEWARE=[]):  # the Django app as it is, without moneypath's Django middleware
        app = MoneyPathMiddleware(ASGIHandler(), moneypath=mp)
        with caplog.at_level(logging.WARNING, logger="moneypath.instrument"):
            answers = get(app, "/graphql/", "/orders/3/", "/orders/4/")
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert sample(mp, HTTP, route="other", method="GET", status_class="2xx") == 3
    assert errors(mp) == 3
    lines = moneypath_lines(caplog)
    assert len(lines) == 2  # one per declared route seen, not one per request
    assert "route /graphql/ is declared but the middleware saw no route" in lines[0]
    assert "moneypath.instrument.django" in lines[0] and "/orders/{order_id}/" in lines[1]


def test_no_route_information_for_an_undeclared_path_is_counted_too(mp, caplog):
    async def bare(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with caplog.at_level(logging.WARNING, logger="moneypath.instrument"):
        get(MoneyPathMiddleware(bare, moneypath=mp), "/a", "/b")
    assert errors(mp) == 2
    lines = moneypath_lines(caplog)
    assert len(lines) == 1 and "for every request the middleware saw no route information" in lines[0]


def test_a_starlette_route_named_differently_from_the_catalogs_is_counted(mp, caplog):
    async def order(request):
        return PlainTextResponse("ok")

    # The catalog says /orders/{order_id}/; the app's template is /orders/{id}/.
    app = MoneyPathMiddleware(Starlette(routes=[Route("/orders/{id}/", order)]), moneypath=mp)
    with caplog.at_level(logging.WARNING, logger="moneypath.instrument"):
        get(app, "/orders/1/", "/orders/2/", "/wp-login.php")
    assert sample(mp, HTTP, route="other", method="GET", status_class="2xx") == 2
    assert sample(mp, HTTP, route="other", method="GET", status_class="4xx") == 1
    assert errors(mp) == 2  # the 404 of an undeclared path is not an instrumentation error
    lines = moneypath_lines(caplog)
    assert len(lines) == 1 and "/orders/{order_id}/ is declared" in lines[0] and "/orders/{id}/" in lines[0]


def test_a_starlette_route_the_catalog_declares_is_recorded_quietly(mp, caplog):
    async def order(request):
        return PlainTextResponse("ok")

    app = MoneyPathMiddleware(Starlette(routes=[Route("/orders/{order_id}/", order)]), moneypath=mp)
    get(app, "/orders/1/", "/nope")
    assert sample(mp, HTTP, route="/orders/{order_id}/", method="GET", status_class="2xx") == 1
    assert errors(mp) == 0 and not moneypath_lines(caplog)


def test_strict_mode_raises_instead(shop_catalog):
    import pytest

    from moneypath.catalog import load_catalog
    from moneypath.instrument import MoneyPath
    from moneypath.instrument._failures import Unmatched

    mp = MoneyPath(load_catalog(shop_catalog), strict=True)
    with pytest.raises(Unmatched, match="/graphql/ is declared"):
        mp.record_request(None, "/graphql/", "POST", 200, 0.01, routed=False)
