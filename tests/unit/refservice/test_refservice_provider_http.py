"""The provider client the running service uses (aiohttp), against a real loopback server:
what it sends, and how a slow, failing or absent provider reaches the adapters. (The other
service tests reach the simulator in-process through httpx's ASGI transport instead.)"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.reference.refservice.adapters import AcmeAdapter
from moneypath.reference.refservice.provider_http import AiohttpProviderHttp, ProviderTimeout, ProviderUnreachable
from moneypath.reference.refservice.resilience import CircuitBreaker, RetryBudget, RetryPolicy
from tests.conftest import free_port


async def serve(routes: web.RouteTableDef):
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def run(routes: web.RouteTableDef, body):
    """Serve `routes` on loopback, run `body(client)` with a client for it, stop both whatever happens."""
    async def go():
        runner, url = await serve(routes)
        client = AiohttpProviderHttp(url)
        try:
            return await body(client)
        finally:
            await client.aclose()
            await runner.cleanup()
    return asyncio.run(asyncio.wait_for(go(), 30))


def test_posts_json_with_headers_and_returns_status_and_body():
    routes, seen = web.RouteTableDef(), []

    @routes.post("/acme/v1/authorizations")
    async def _(request):
        seen.append((request.content_type, await request.json(), request.headers.get("x-correlation-id")))
        return web.json_response({"status": "APPROVED", "id": "a1"}, status=201)

    async def body(client):
        return [await client.post("/acme/v1/authorizations", {"amount_minor": 5, "reference": f"r{i}"},
                                  {"x-correlation-id": "corr-1234"}, 2.0) for i in range(3)]

    answers = run(routes, body)
    assert [(status, json.loads(content)) for status, content in answers] == [(201, {"status": "APPROVED", "id": "a1"})] * 3
    assert seen == [("application/json", {"amount_minor": 5, "reference": f"r{i}"}, "corr-1234") for i in range(3)]


def test_a_slow_provider_is_a_timeout_and_an_absent_one_is_unreachable():
    routes = web.RouteTableDef()

    @routes.post("/slow")
    async def _(request):
        await asyncio.sleep(1)
        return web.json_response({})

    async def body(client):
        with pytest.raises(ProviderTimeout):
            await client.post("/slow", {}, None, 0.2)
        closed = AiohttpProviderHttp(f"http://127.0.0.1:{free_port()}")  # nothing listens there
        try:
            with pytest.raises(ProviderUnreachable):
                await closed.post("/x", {}, None, 2.0)
        finally:
            await closed.aclose()

    run(routes, body)


def test_adapter_over_aiohttp_retries_a_5xx_and_normalises_the_answer(catalog):
    routes, calls = web.RouteTableDef(), []

    @routes.post("/acme/v1/authorizations")
    async def _(request):
        calls.append((await request.json())["idempotency_key"])
        if len(calls) < 3:
            return web.json_response({"error": "busy"}, status=503)
        return web.json_response({"status": "APPROVED", "id": "acme_1"})

    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))

    async def body(client):
        adapter = AcmeAdapter(client, mp, timeout_s=2.0, retry=RetryPolicy(max_attempts=3, base_s=0.001, cap_s=0.002))
        return await adapter.authorize(1999, "EUR", "order-1", "key-1")

    result = run(routes, body)
    assert (result.outcome, result.provider_ref, result.provider_status) == ("approved", "acme_1", "APPROVED")
    assert calls == ["key-1"] * 3  # every retry carries the same idempotency key
    registry = mp.backend.registry
    attempts = {outcome: registry.get_sample_value(catalog.metric("provider_requests_total"),
                                                   {"provider": "acme", "operation": "authorize", "outcome": outcome})
                for outcome in ("success", "error")}
    assert attempts == {"success": 1, "error": 2}


@pytest.mark.parametrize("content", [b"<html>gateway ok</html>", b"[" * 50_000, b""])
def test_a_2xx_that_is_not_json_is_a_provider_error_not_a_crash(catalog, content):
    class Garbled:
        calls = 0

        async def post(self, path, body, headers, timeout_s):
            Garbled.calls += 1
            return 200, content

    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    adapter = AcmeAdapter(Garbled(), mp, retry=RetryPolicy(max_attempts=2, base_s=0.001, cap_s=0.002))
    result = asyncio.run(adapter.capture("acme_1", 100, "EUR", "key-1"))
    assert result.outcome == "error" and Garbled.calls == 2  # retried: safe, the key deduplicates it
    assert mp.backend.registry.get_sample_value(catalog.metric("provider_requests_total"),
                                                {"provider": "acme", "operation": "capture", "outcome": "error"}) == 2


class _Failing:
    """A provider that answers 500 at once, or after `delay_s` (a slow one)."""

    def __init__(self, delay_s: float = 0.0):
        self.calls, self.delay_s = 0, delay_s

    async def post(self, path, body, headers, timeout_s):
        self.calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return 500, b"{}"


def test_retries_of_a_failing_provider_stay_within_the_budget(catalog):
    """Every call fails: without the budget each would make 3 attempts (300 in all); with it, retries are
    at most 20 % of calls plus the bucket's 10 to start with."""
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    provider = _Failing()
    adapter = AcmeAdapter(provider, mp, retry=RetryPolicy(max_attempts=3, base_s=0.0, cap_s=0.0),
                          breaker=CircuitBreaker(failure_threshold=10 ** 6))

    async def calls():
        for i in range(100):
            assert (await adapter.capture("acme_1", 100, "EUR", f"key-{i}")).outcome == "error"

    asyncio.run(calls())
    retries = provider.calls - 100
    assert 20 <= retries <= 20 + 10
    assert mp.backend.registry.get_sample_value(catalog.metric("provider_retries_total"),
                                                {"provider": "acme", "operation": "capture"}) == retries


def test_the_budget_lets_an_occasional_failure_be_retried():
    budget = RetryBudget(ratio=0.2, max_tokens=10)
    for _ in range(10):
        assert budget.withdraw()
    assert not budget.withdraw()  # spent: calls must earn retries back
    for _ in range(5):
        budget.deposit()
    assert budget.withdraw() and not budget.withdraw()
    for _ in range(1000):
        budget.deposit()
    assert budget.tokens == 10  # a quiet hour does not bank a retry storm


def test_attempts_share_one_deadline(catalog):
    """A provider answering 500 after 0.3 s, a 0.5 s deadline: one retry fits, a third attempt does not."""
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    provider = _Failing(delay_s=0.3)
    adapter = AcmeAdapter(provider, mp, timeout_s=0.5, retry=RetryPolicy(max_attempts=3, base_s=0.0, cap_s=0.0))
    started = time.perf_counter()
    result = asyncio.run(adapter.capture("acme_1", 100, "EUR", "key-1"))
    assert result.outcome in ("error", "timeout") and provider.calls == 2
    assert time.perf_counter() - started < 0.7
