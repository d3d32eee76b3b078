"""The fault proxy's provider calls (moneypath.stack.faultproxy.handlers, upstream): forwarded unchanged, or broken by
a fault; unknown paths, health and the body limit, in-process on loopback between a test client and a small recording
upstream and webhook receiver (aiohttp; tests/support/faultproxy.py). The real process:
tests/integration/stack/test_faultproxy_process.py."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from moneypath.stack import faultproxy as fp
from tests.conftest import free_port
from tests.support.faultproxy import PROVIDERS, admin_headers, problem_of, put, run


def test_hop_by_hop_headers_and_those_connection_names_are_not_forwarded():
    headers = [("Host", "proxy"), ("Connection", "keep-alive, X-Private"), ("X-Private", "1"), ("Keep-Alive", "5"),
               ("Transfer-Encoding", "chunked"), ("Content-Length", "3"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
               ("Idempotency-Key", "k1")]
    assert fp.forward_headers(headers, fp.NOT_FORWARDED) == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                                                             ("Idempotency-Key", "k1")]


def test_a_call_is_forwarded_and_its_answer_comes_back_unchanged():
    async def body(client, komoju, knet, service, app):
        async with client.post("/komoju/v1/charges%2Fx?currency=JPY&amount=6235", data=b'{"a": 1}',
                               headers={"Content-Type": "application/json", "Idempotency-Key": "k-1",
                                        "X-Correlation-Id": "corr-12345678", "Connection": "keep-alive"}) as r:
            assert r.status == 201
            assert await r.json() == {"upstream": "komoju", "n": 1}
            assert r.headers["X-Upstream"] == "komoju" and r.headers.getall("Set-Cookie") == ["a=1", "b=2"]
            assert "X-Moneypath-Fault" not in r.headers
        async with client.get("/knet") as r:
            assert (r.status, (await r.json())["upstream"]) == (200, "knet")
        seen = komoju.seen[0]
        assert (seen["method"], seen["path_qs"], seen["body"]) == ("POST", "/v1/charges%2Fx?currency=JPY&amount=6235",
                                                                   b'{"a": 1}')
        assert seen["headers"]["Idempotency-Key"] == "k-1" and seen["headers"]["Content-Type"] == "application/json"
        assert seen["headers"]["X-Correlation-Id"] == "corr-12345678"
        assert seen["headers"]["Host"] == komoju_host(komoju, app)
        assert "User-Agent" in seen["headers"]  # the client's own, not added by the proxy
        assert [s["path_qs"] for s in knet.seen] == ["/"]

    run(body)


def komoju_host(komoju, app) -> str:
    return app[fp.CONFIG].upstreams["komoju"].removeprefix("http://")


def test_unknown_provider_upstream_down_and_health():
    async def body(client, komoju, knet, service, app):
        async with client.get("/stripe/v1/charges") as r:
            assert r.status == 404
            problem = await problem_of(r)
            assert problem["known"] == ["komoju", "knet"] and "komoju, knet" in problem["detail"]
        async with client.post("/knet/pay", data=b"{}") as r:
            assert r.status == 502
            problem = await problem_of(r)
            assert problem["provider"] == "knet" and "ClientConnectorError" in problem["detail"]
            assert "Traceback" not in problem["detail"]
        async with client.get("/healthz") as r:
            health = await r.json()
            assert health["ok"] is True and set(health["upstreams"]) == {"komoju", "knet"}
            assert health["faults_enabled"] is True and health["faults"] == 0
        async with client.post("/healthz") as r:
            assert (r.status, r.headers["Allow"]) == (405, "GET")

    run(body, knet_url=f"http://127.0.0.1:{free_port()}")  # nothing listens there


def test_error_rate_answers_for_the_provider_and_forwards_nothing():
    async def body(client, komoju, knet, service, app):
        await put(client, "error_rate", provider="komoju", rate=1)
        async with client.post("/komoju/v1/charges", data=b"{}") as r:
            assert (r.status, r.headers["X-Moneypath-Fault"]) == (503, "error_rate")
            assert "error_rate" in (await problem_of(r))["detail"]
        await put(client, "error_rate", provider="komoju", rate=1, status=429)
        async with client.post("/komoju/v1/charges", data=b"{}") as r:
            assert r.status == 429
        async with client.post("/knet/v1/charges", data=b"{}") as r:  # the other provider is healthy
            assert r.status == 201
        assert komoju.seen == [] and len(knet.seen) == 1
        async with client.get("/admin/faults", headers=admin_headers()) as r:  # fired since this setting
            assert [(f["status"], f["fired"]) for f in (await r.json())["faults"]] == [(429, 1)]

    run(body)


def test_reset_closes_the_connection_without_an_answer_and_forwards_nothing():
    async def body(client, komoju, knet, service, app):
        await put(client, "reset", provider="knet", rate=1)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with client.post("/knet/v1/charges", data=b"{}") as r:
                await r.read()
        assert knet.seen == []
        async with client.post("/komoju/v1/charges", data=b"{}") as r:
            assert r.status == 201

    run(body)


def test_latency_waits_then_forwards():
    async def body(client, komoju, knet, service, app):
        await put(client, "latency", provider="komoju", extra_ms=300)
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with client.get("/komoju/slow") as r:
            assert (r.status, r.headers["X-Moneypath-Fault"]) == (200, "latency")
        assert loop.time() - start >= 0.25
        assert len(komoju.seen) == 1

    run(body)


def test_timeout_forwards_then_holds_the_answer_the_ambiguous_outcome():
    async def body(client, komoju, knet, service, app):
        await put(client, "timeout", provider="komoju", rate=1, delay_s=600)
        with pytest.raises(asyncio.TimeoutError):
            async with client.post("/komoju/v1/charges", data=b'{"amount_minor": 6235}',
                                   timeout=aiohttp.ClientTimeout(total=0.5)) as r:
                await r.read()
        assert [s["body"] for s in komoju.seen] == [b'{"amount_minor": 6235}']  # the charge happened

        # A caller that waits gets the held answer as soon as the fault is cleared.
        held = asyncio.create_task(client.post("/komoju/v1/charges", data=b"{}"))
        await asyncio.sleep(0.3)
        assert not held.done() and len(komoju.seen) == 2
        async with client.delete("/admin/faults/timeout", headers=admin_headers()) as r:
            assert r.status == 200
        answer = await asyncio.wait_for(held, 5)
        assert (answer.status, answer.headers["X-Moneypath-Fault"]) == (201, "timeout")
        answer.release()

    run(body)


def test_unknown_paths_are_problems_not_tracebacks():
    async def body(client, komoju, knet, service, app):
        for method, path, status in (("GET", "/", 404), ("GET", "/admin/nothing", 404),
                                     ("PUT", "/admin/faults/a/b", 404), ("GET", "/admin/faults/error_rate", 405)):
            async with client.request(method, path) as r:
                assert r.status == status, path
                await problem_of(r)

    run(body)


def test_faults_match_the_shared_vocabulary():
    app = fp.create_app(fp.ProxyConfig({"komoju": "http://a:1", "knet": "http://a:2"}))
    from moneypath.protocol.faults.vocabularies import proxy_specs

    assert set(app[fp.FAULTS].faults.specs) == set(proxy_specs(PROVIDERS))
    assert json.loads(json.dumps(app[fp.FAULTS].faults.catalog()))["error_rate"]["optional"] == {"status": 503}


def test_a_body_over_the_limit_is_a_problem_too(monkeypatch):
    monkeypatch.setattr(fp.server, "MAX_BODY_BYTES", 1000)

    async def body(client, komoju, knet, service, app):
        async with client.post("/komoju/v1/charges", data=b"x" * 2000) as r:
            assert r.status == 413
            await problem_of(r)
        assert komoju.seen == []

    run(body)


def test_a_catalog_provider_without_an_upstream_is_named_with_the_flag_it_lacks():
    """Only knet proxied: komoju's calls, webhooks and faults are refused naming --upstream komoju=URL; knet works."""
    async def body(client, komoju, knet, service, app):
        detail = ("komoju is a provider of the catalog, but this proxy has no upstream for it: start it with "
                  "--upstream komoju=URL to proxy its calls and webhooks and set faults on it")
        async with client.post("/komoju/v1/charges", json={}) as r:
            problem = await problem_of(r)
            assert (r.status, problem["type"], problem["detail"], problem["provider"]) == (
                502, "https://moneypath.dev/problems/no-upstream", detail, "komoju")
        async with client.post("/webhooks/komoju/payments", json={}) as r:
            assert (r.status, (await problem_of(r))["detail"]) == (502, detail)
        async with client.put("/admin/faults/error_rate", json={"provider": "komoju", "rate": 1},
                              headers=admin_headers()) as r:
            assert (r.status, (await problem_of(r))["detail"]) == (422, detail)
        async with client.delete("/admin/faults/error_rate?provider=komoju", headers=admin_headers()) as r:
            assert (r.status, (await problem_of(r))["type"]) == (404, "https://moneypath.dev/problems/no-upstream")
        async with client.post("/stripe/v1/charges", json={}) as r:  # not the catalog's: unknown, as before
            assert (r.status, (await problem_of(r))["type"]) == (404, "https://moneypath.dev/problems/unknown-provider")
        await put(client, "error_rate", provider="knet", rate=1)
        async with client.post("/knet/v1/charges", json={}) as r:
            assert r.status == 503 and r.headers["X-Moneypath-Fault"] == "error_rate"
        assert komoju.seen == [] and service.seen == []
    run(body, only=("knet",))
