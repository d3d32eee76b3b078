"""Middleware (route templates, correlation ids) and the /metrics ASGI app."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from moneypath.instrument import JsonFormatter, MoneyPathMiddleware, current_correlation_id

log = logging.getLogger("refservice.test")


def make_app(mp):
    async def get_payment(request):
        log.info("payment looked up", extra={"payment_status": "captured"})
        return JSONResponse({"id": request.path_params["payment_id"], "correlation_id": current_correlation_id()})

    async def boom(request):
        raise RuntimeError("database went away")

    async def health(request):
        return PlainTextResponse("ok")

    app = Starlette(routes=[
        Route("/v1/payments/{payment_id}", get_payment),
        Route("/v1/payouts", boom, methods=["POST"]),
        Route("/healthz", health),
        Route("/metrics", mp.metrics_app(), methods=["GET", "HEAD", "POST"]),
    ])
    app.add_middleware(MoneyPathMiddleware, moneypath=mp)
    return app


def requests_total(mp, **labels):
    return mp.registry.get_sample_value("moneypath_http_requests_total", labels) or 0


@pytest.fixture
def client(mp):
    transport = httpx.ASGITransport(app=make_app(mp), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
def run():
    import asyncio

    return asyncio.run


def test_route_templates_not_raw_paths_become_labels(mp, client, run):
    async def go():
        async with client:
            for pid in ("pay_1", "pay_2", "pay_3"):
                assert (await client.get(f"/v1/payments/{pid}")).status_code == 200
            assert (await client.get("/nope/4111111111111111")).status_code == 404
            assert (await client.post("/v1/payouts")).status_code == 500
            return (await client.get("/metrics")).text
    body = run(go())
    assert requests_total(mp, route="/v1/payments/{payment_id}", method="GET", status_class="2xx") == 3
    assert requests_total(mp, route="other", method="GET", status_class="4xx") == 1
    assert requests_total(mp, route="/v1/payouts", method="POST", status_class="5xx") == 1
    routes = {line.split('route="')[1].split('"')[0] for line in body.splitlines() if 'route="' in line}
    assert not [r for r in routes if "pay_1" in r or "4111" in r]


def test_correlation_id_is_echoed_when_safe_and_replaced_otherwise(client, run):
    async def go():
        async with client:
            kept = await client.get("/v1/payments/p1", headers={"x-correlation-id": "corr-12345678"})
            pan = await client.get("/v1/payments/p1", headers={"x-correlation-id": "4111.1111.1111.1111"})
            junk = await client.get("/v1/payments/p1", headers={"x-correlation-id": "<script>"})
            none = await client.get("/v1/payments/p1")
        return kept, pan, junk, none
    kept, pan, junk, none = run(go())
    assert kept.headers["x-correlation-id"] == "corr-12345678" == kept.json()["correlation_id"]
    for response in (pan, junk, none):
        cid = response.headers["x-correlation-id"]
        assert len(cid) == 32 and cid == response.json()["correlation_id"]
    assert len({pan.headers["x-correlation-id"], junk.headers["x-correlation-id"]}) == 2


def test_metrics_endpoint_negotiates_openmetrics_and_is_not_counted_as_traffic(mp, client, run):
    async def go():
        async with client:
            text = await client.get("/metrics")
            om = await client.get("/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
            post = await client.post("/metrics")
        return text, om, post
    text, om, post = run(go())
    assert text.headers["content-type"].startswith("text/plain")
    assert "# TYPE moneypath_authorizations_total counter" in text.text
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.rstrip().endswith("# EOF")
    assert post.status_code == 405
    assert requests_total(mp, route="other", method="GET", status_class="2xx") == 0


def test_json_logs_carry_correlation_id_and_never_a_card_number(client, run):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        async def go():
            async with client:
                await client.get("/v1/payments/p9", headers={"x-correlation-id": "corr-abcdefgh"})
        run(go())
        log.warning("customer typed 4111 1111 1111 1111 into the reference field")
    finally:
        log.removeHandler(handler)
    first, second = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert first["correlation_id"] == "corr-abcdefgh"
    assert first["payment_status"] == "captured" and first["level"] == "info"
    assert "4111" not in second["message"] and "[REDACTED-PAN]" in second["message"]
    assert "correlation_id" not in second


def test_rendering_lowers_the_switch_interval_only_while_it_runs(mp):
    import sys

    from moneypath.instrument.exposition import collection_registry, render

    seen = []

    class Probe:
        def collect(self):
            seen.append(sys.getswitchinterval())
            return []

    before = sys.getswitchinterval()
    mp.registry.register(Probe())
    body, _ = render(collection_registry(mp.registry), "")
    assert b"moneypath_authorizations_total" in body
    assert seen == [0.0005] and before > 0.0005
    assert sys.getswitchinterval() == before


def test_separate_metrics_server_serves_and_filters_by_name(mp):
    from tests.conftest import free_port

    port = free_port()
    server, thread = mp.start_metrics_server(port)
    try:
        mp.count_dead_letter("notifications")
        base = f"http://127.0.0.1:{port}/metrics"
        assert "moneypath_dead_letters_total" in httpx.get(base, timeout=5).text
        only = httpx.get(base, params={"name[]": "moneypath_dead_letters_total"}, timeout=5)
        assert only.status_code == 200
        assert "moneypath_dead_letters_total" in only.text and "moneypath_authorizations_total" not in only.text
    finally:
        server.shutdown()
        server.server_close()
