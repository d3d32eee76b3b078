"""moneypath.instrument.django: the middleware under WSGI (django.test.Client) and ASGI (AsyncClient), the route
templates it derives from Django's URLconf, the correlation id, settings and the /metrics view."""

from __future__ import annotations

import asyncio
import logging

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient, Client, override_settings

from moneypath.catalog.conventions import Key
from moneypath.instrument.django import DjangoMoneyPathMiddleware, get_moneypath, route_template
from moneypath.protocol.correlation_header import HEADER
from tests.unit.instrument.web.conftest import errors, sample

HTTP = Key.HTTP_REQUESTS_TOTAL


@pytest.mark.parametrize("route, template", [
    ("orders/<int:order_id>/", "/orders/{order_id}/"),
    ("orders/<order_id>/", "/orders/{order_id}/"),
    ("", "/"),
    (r"^legacy/(?P<year>[0-9]{4})/(?P<slug>[-\w]+)/$", "/legacy/{year}/{slug}/"),
    (r"^api/v1/items/(?P<pk>\d+)/$", "/api/v1/items/{pk}/"),
    (r"^report\.csv$", "/report.csv"),
    (r"^items/(\d+)/$", None),  # an unnamed group: no template
    (r"^(?:en|de)/about/$", None),
])
def test_django_routes_become_catalog_templates(route, template):
    assert route_template(route) == template


def test_wsgi_requests_are_recorded_by_route_template(mp):
    client = Client()
    for order_id in (1, 2, 3):
        assert client.get(f"/orders/{order_id}/").status_code == 200
    assert client.get("/legacy/2024/spring-sale/").status_code == 200
    assert sample(mp, HTTP, route="/orders/{order_id}/", method="GET", status_class="2xx") == 3
    assert sample(mp, HTTP, route="/legacy/{year}/{slug}/", method="GET", status_class="2xx") == 1
    assert sample(mp, Key.HTTP_REQUEST_DURATION_SECONDS, "_count", route="/orders/{order_id}/", method="GET") == 3
    assert errors(mp) == 0


def test_wsgi_an_undeclared_route_is_other_and_said_once_and_a_404_quietly(mp, caplog):
    client = Client()
    for _ in range(2):
        assert client.get("/api/undeclared/").status_code == 200
    assert client.get("/wp-login.php").status_code == 404
    assert sample(mp, HTTP, route="other", method="GET", status_class="2xx") == 2
    assert sample(mp, HTTP, route="other", method="GET", status_class="4xx") == 1
    said = [r for r in caplog.records if r.name.startswith("moneypath")]
    assert errors(mp) == 1 and len(said) == 1
    assert said[0].route == "/api/undeclared/" and said[0].catalog_key == "signals.http_requests_total.labels.route"


def test_wsgi_a_raising_view_is_a_5xx_of_its_route(mp):
    client = Client(raise_request_exception=False)
    assert client.get("/api/boom/").status_code == 500
    assert sample(mp, HTTP, route="other", method="GET", status_class="5xx") == 1


def test_wsgi_correlation_id_is_echoed_or_made(mp):
    client = Client()
    mine = client.get("/orders/7/", headers={HEADER: "abc-12345678"})
    assert mine[HEADER] == "abc-12345678" and mine.json()["correlation_id"] == "abc-12345678"
    fresh = client.get("/orders/7/", headers={HEADER: "4111 1111 1111 1111"})  # never a card number
    assert fresh[HEADER] != "4111 1111 1111 1111" and fresh.json()["correlation_id"] == fresh[HEADER]


def test_the_metrics_path_is_served_and_not_recorded(mp):
    client = Client()
    client.get("/orders/1/")
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert b'shop_http_requests_total{method="GET",route="/orders/{order_id}/",status_class="2xx"} 1.0' in answer.content
    open_metrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert open_metrics["Content-Type"].startswith("application/openmetrics-text")
    assert client.post("/metrics").status_code == 405
    assert client.head("/metrics").content == b""
    assert sample(mp, HTTP, route="other", method="GET", status_class="2xx") == 0


def test_asgi_requests_are_recorded_and_the_middleware_runs_on_the_event_loop(mp):
    async def go():
        client = AsyncClient()
        sync_view = await client.get("/orders/5/", headers={HEADER: "corr-async-1"})
        async_view = await client.get("/async/orders/6/")
        return sync_view, async_view

    sync_view, async_view = asyncio.run(go())
    assert sync_view.status_code == async_view.status_code == 200
    assert sync_view[HEADER] == "corr-async-1" and sync_view.json()["correlation_id"] == "corr-async-1"
    assert async_view.json()["correlation_id"] == async_view[HEADER]
    assert sample(mp, HTTP, route="/orders/{order_id}/", method="GET", status_class="2xx") == 1
    assert sample(mp, HTTP, route="/async/orders/{order_id}/", method="GET", status_class="2xx") == 1
    assert errors(mp) == 0


def test_the_middleware_is_async_under_asgi_and_sync_under_wsgi(mp):
    from asgiref.sync import iscoroutinefunction

    async def get_response(request):
        return None

    assert DjangoMoneyPathMiddleware.sync_capable and DjangoMoneyPathMiddleware.async_capable
    assert iscoroutinefunction(DjangoMoneyPathMiddleware(get_response))
    assert not iscoroutinefunction(DjangoMoneyPathMiddleware(lambda request: None))


def test_a_declared_route_the_urlconf_does_not_match_is_counted_and_logged_once(tmp_path, caplog):
    from tests.unit.instrument.web.conftest import write_catalog

    # The catalog names the id {id}; the URLconf says <int:order_id>: the path fits the declared template.
    catalog = write_catalog(tmp_path)
    text = catalog.read_text().replace("/orders/{order_id}/", "/orders/{id}/")
    catalog.write_text(text)
    with override_settings(MONEYPATH={"CATALOG": str(catalog)}):
        mp = get_moneypath()
        client = Client()
        with caplog.at_level(logging.WARNING, logger="moneypath.instrument"):
            client.get("/orders/1/")
            client.get("/orders/2/")
        assert sample(mp, HTTP, route="other", method="GET", status_class="2xx") == 2
        assert errors(mp) == 2
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1 and "/orders/{id}/ is declared" in lines[0] and "/orders/{order_id}/" in lines[0]


def test_settings_mistakes_are_one_clear_line(shop_catalog):
    for value, words in (({"CATALOGUE": "x"}, "unknown key CATALOGUE"), ("moneypath.yaml", "set it to a dict"),
                         ({"BACKEND": "none"}, "give CATALOG"),
                         ({"INSTANCE": "logging.getLogger"}, "is not a MoneyPath")):
        with override_settings(MONEYPATH=value), pytest.raises(ImproperlyConfigured, match=words):
            get_moneypath()


def test_instance_setting_shares_the_services_own_moneypath(shop_catalog):
    import sys
    import types

    from moneypath.instrument import MoneyPath

    module = types.ModuleType("shop_observability")
    module.mp = MoneyPath.from_catalog(shop_catalog)
    sys.modules["shop_observability"] = module
    try:
        with override_settings(MONEYPATH={"INSTANCE": "shop_observability.mp"}):
            assert get_moneypath() is module.mp
            Client().get("/orders/1/")
            assert sample(module.mp, HTTP, route="/orders/{order_id}/", method="GET", status_class="2xx") == 1
    finally:
        del sys.modules["shop_observability"]
