"""The fault proxy (moneypath.stack.faultproxy): its configuration, and the app in-process on loopback between
a test client and a small recording upstream and webhook receiver (aiohttp). The real process, startup
checks and timings: tests/integration/stack/test_faultproxy_process.py."""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from moneypath.protocol.tokens import issue
from moneypath.stack import faultproxy as fp
from tests.conftest import free_port, run_cli

FOREIGN = "tests/foreign/moneypath.yaml"  # providers komoju and knet
SECRET = b"unit-token-secret"
PROVIDERS = ("komoju", "knet")


def admin_headers(scopes=("admin:faults",), secret=SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue(secret, 'unit', list(scopes), ttl_s=120)}"}


# --- configuration ---------------------------------------------------------------------------------------

def test_upstreams_parse_one_base_url_per_provider():
    assert fp.parse_upstreams(["komoju=http://127.0.0.1:9101/", "knet=https://sandbox.knet.example/api"],
                              PROVIDERS) == {"komoju": "http://127.0.0.1:9101", "knet": "https://sandbox.knet.example/api"}


@pytest.mark.parametrize(("values", "message"), [
    (["komoju"], "--upstream 'komoju': expected PROVIDER=URL, e.g. komoju=http://127.0.0.1:9101"),
    (["=http://x"], "--upstream '=http://x': expected PROVIDER=URL"),
    (["komoju=http://a:1", "knet=http://a:2", "komjuu=http://a:3"],
     "--upstream 'komjuu=http://a:3': komjuu is not a provider of the catalog (known: komoju, knet); did you mean komoju?"),
    (["stripe=http://a:1"], "--upstream 'stripe=http://a:1': stripe is not a provider of the catalog (known: komoju, knet)"),
    (["komoju=http://a:1"], "no --upstream for knet: every provider of the catalog needs one (add --upstream knet=URL)"),
    ([], "no --upstream for komoju, knet"),
    (["komoju=http://a:1", "komoju=http://a:2"], "--upstream 'komoju=http://a:2': komoju has an upstream already"),
    (["komoju=ftp://a", "knet=http://a:2"], "--upstream komoju: 'ftp://a' must be an http:// or https:// base URL"),
    (["komoju=http://a:1?x=1", "knet=http://a:2"], "must be an http:// or https:// base URL without a query"),
    (["komoju=http://a:99999", "knet=http://a:2"], "--upstream komoju: 'http://a:99999' is not a URL"),
])
def test_bad_upstreams_are_one_line(values, message):
    with pytest.raises(fp.ConfigError) as exc:
        fp.parse_upstreams(values, PROVIDERS)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_provider_named_like_the_proxys_own_paths_is_refused():
    with pytest.raises(fp.ConfigError, match="provider 'admin' cannot be proxied"):
        fp.parse_upstreams(["admin=http://a:1"], ("admin",))


def test_credentials_in_urls_are_masked_in_messages_and_the_banner():
    assert fp.display("https://user:pw@sandbox.example/api") == "https://***@sandbox.example/api"
    config = fp.ProxyConfig({"komoju": "https://user:pw@sandbox.example", "knet": "http://127.0.0.1:9102"},
                            webhook_target="http://127.0.0.1:8080")
    assert fp.banner(config, "http://127.0.0.1:8790") == (
        "faultproxy on http://127.0.0.1:8790: komoju → https://***@sandbox.example, knet → http://127.0.0.1:9102, "
        "webhooks → http://127.0.0.1:8080 (faults off)")


def test_faults_need_a_token_secret():
    with pytest.raises(fp.ConfigError, match="MONEYPATH_TOKEN_SECRET"):
        fp.ProxyConfig({"komoju": "http://a:1"}, enable_faults=True)


def test_hop_by_hop_headers_and_those_connection_names_are_not_forwarded():
    headers = [("Host", "proxy"), ("Connection", "keep-alive, X-Private"), ("X-Private", "1"), ("Keep-Alive", "5"),
               ("Transfer-Encoding", "chunked"), ("Content-Length", "3"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
               ("Idempotency-Key", "k1")]
    assert fp.forward_headers(headers, fp.NOT_FORWARDED) == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                                                             ("Idempotency-Key", "k1")]


@pytest.mark.parametrize(("argv", "message"), [
    (["--upstream", "komoju=http://127.0.0.1:9", "--upstream", "knett=http://127.0.0.1:9"],
     "moneypath faultproxy: --upstream 'knett=http://127.0.0.1:9': knett is not a provider of the catalog "
     "(known: komoju, knet); did you mean knet?\n"),
    (["--upstream", "komoju=http://127.0.0.1:9"],
     "moneypath faultproxy: no --upstream for knet: every provider of the catalog needs one "
     "(add --upstream knet=URL)\n"),
    (["--upstream", "komoju:http://127.0.0.1:9"],
     "moneypath faultproxy: --upstream 'komoju:http://127.0.0.1:9': expected PROVIDER=URL, e.g. "
     "komoju=http://127.0.0.1:9101\n"),
    (["--upstream", "komoju=http://127.0.0.1:9", "--upstream", "knet=http://127.0.0.1:9", "--enable-faults"],
     "moneypath faultproxy: --enable-faults needs MONEYPATH_TOKEN_SECRET in the environment (admin tokens are "
     "checked with it)\n"),
    (["--upstream", "komoju=http://127.0.0.1:9", "--upstream", "knet=http://127.0.0.1:9", "--webhook-target", "svc"],
     "moneypath faultproxy: --webhook-target: 'svc' must be an http:// or https:// base URL without a query, "
     "e.g. http://127.0.0.1:9101\n"),
])
def test_the_command_refuses_a_bad_configuration_in_one_line(argv, message, monkeypatch):
    monkeypatch.delenv("MONEYPATH_TOKEN_SECRET", raising=False)
    result = run_cli("faultproxy", "--catalog", FOREIGN, *argv)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message)


def test_the_command_is_registered_with_its_interface():
    result = run_cli("faultproxy", "--help")
    assert result.returncode == 0
    for option in ("--catalog", "--host", "--port", "--upstream PROVIDER=URL", "--webhook-target URL",
                   "--enable-faults"):
        assert option in result.stdout


# --- holds end with their fault ---------------------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_hold_ends_when_its_fault_is_cleared_or_ends():
    async def go():
        clock = FakeClock()
        faults = fp.ProxyFaults(PROVIDERS, clock=clock)
        faults.set("timeout", {"provider": "knet", "rate": 1, "delay_s": 600, "duration_s": 60})
        held = asyncio.create_task(faults.hold("timeout", "knet", 600))
        await asyncio.sleep(0.05)
        assert not held.done()
        assert [f["name"] for f in faults.clear("timeout", "knet")] == ["timeout"]
        await asyncio.wait_for(held, 5)  # released by the clear, not after 600 s

        faults.set("latency", {"provider": "komoju", "extra_ms": 60_000, "duration_s": 10})
        clock.now += 9.95  # 50 ms of the fault left: the hold is cut to that
        await asyncio.wait_for(faults.hold("latency", "komoju", 60), 5)
        clock.now += 1  # over: nothing is held at all
        await asyncio.wait_for(faults.hold("latency", "komoju", 60), 0.5)

        faults.set("delay_webhooks", {"provider": "knet", "delay_s": 600})
        held = asyncio.create_task(faults.hold("delay_webhooks", "knet", 600))
        await asyncio.sleep(0.05)
        faults.set("delay_webhooks", {"provider": "knet", "delay_s": 1})  # replaced: what the old one held goes
        await asyncio.wait_for(held, 5)
        held = asyncio.create_task(faults.hold("delay_webhooks", "knet", 600))
        await asyncio.sleep(0.05)
        faults.release_all()  # shutting down
        await asyncio.wait_for(held, 5)

    asyncio.run(asyncio.wait_for(go(), 30))


def test_fired_faults_are_counted_and_logged_at_most_once_a_second(caplog):
    clock = FakeClock()
    faults = fp.ProxyFaults(PROVIDERS, clock=clock)
    faults.set("error_rate", {"provider": "komoju", "rate": 1})
    caplog.set_level("INFO", "moneypath.faultproxy")
    caplog.clear()
    for _ in range(5):
        assert faults.fires("error_rate", "komoju", {"x-correlation-id": "corr-12345678"}) == {"rate": 1, "status": 503}
    clock.now += 1.5
    assert faults.fires("error_rate", "komoju")
    assert faults.fires("error_rate", "knet") is None
    assert faults.fired == {("error_rate", "komoju"): 6}
    assert [r.getMessage() for r in caplog.records] == [
        "fault error_rate fired on komoju (1 time since the last line)",
        "fault error_rate fired on komoju (5 times since the last line)"]
    assert caplog.records[0].correlation_id == "corr-12345678"


# --- the app in-process ----------------------------------------------------------------------------------

class Recorder:
    """A provider (or the service's webhook endpoint) that records what reaches it."""

    def __init__(self, name: str):
        self.name, self.seen = name, []

    def app(self) -> web.Application:
        async def answer(request: web.Request):
            body = await request.read()
            self.seen.append({"method": request.method, "path_qs": request.raw_path, "body": body,
                              "headers": request.headers.copy()})
            if request.path.endswith("/fail"):
                return web.json_response({"error": "boom"}, status=500)
            response = web.json_response({"upstream": self.name, "n": len(self.seen)},
                                         status=201 if request.method == "POST" else 200,
                                         headers={"X-Upstream": self.name})
            response.headers.add("Set-Cookie", "a=1")
            response.headers.add("Set-Cookie", "b=2")
            return response

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        return app


async def _start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


@asynccontextmanager
async def proxy(enable_faults=True, webhooks=True, knet_url: str | None = None):
    """The proxy between a client and two recording providers (and a recording webhook receiver)."""
    komoju, knet, service = Recorder("komoju"), Recorder("knet"), Recorder("service")
    runners = []
    try:
        urls = {}
        for rec in (komoju, knet, service):
            runner, urls[rec.name] = await _start(rec.app())
            runners.append(runner)
        config = fp.ProxyConfig({"komoju": urls["komoju"], "knet": knet_url or urls["knet"]},
                                webhook_target=urls["service"] + "/hooks" if webhooks else None,
                                token_secret=SECRET, enable_faults=enable_faults)
        app = fp.create_app(config)
        runner, url = await _start(app)
        runners.append(runner)
        async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=10)) as client:
            yield client, komoju, knet, service, app
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def run(body, **options):
    async def go():
        async with proxy(**options) as env:
            return await body(*env)
    return asyncio.run(asyncio.wait_for(go(), 30))


async def put(client, name: str, **body) -> dict:
    async with client.put(f"/admin/faults/{name}", json=body, headers=admin_headers()) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def problem_of(response: aiohttp.ClientResponse) -> dict:
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["status"] == response.status and body["type"].startswith("https://moneypath.dev/problems/")
    return body


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


def test_the_admin_api_is_off_by_default():
    async def body(client, komoju, knet, service, app):
        for method, path in (("PUT", "/admin/faults/error_rate"), ("DELETE", "/admin/faults/error_rate"),
                             ("GET", "/admin/faults")):
            async with client.request(method, path, json={"provider": "komoju", "rate": 1},
                                      headers=admin_headers()) as r:
                assert r.status == 403
                assert "faults are not enabled" in (await problem_of(r))["detail"]
        async with client.post("/komoju/x") as r:
            assert r.status == 201

    run(body, enable_faults=False)


def test_the_admin_api_needs_a_token_with_the_admin_scope():
    async def body(client, komoju, knet, service, app):
        fault = {"provider": "komoju", "rate": 1}
        async with client.put("/admin/faults/error_rate", json=fault) as r:
            assert (r.status, r.headers["WWW-Authenticate"]) == (401, 'Bearer realm="faultproxy"')
            await problem_of(r)
        async with client.put("/admin/faults/error_rate", json=fault, headers=admin_headers(secret=b"other")) as r:
            assert r.status == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
        async with client.delete("/admin/faults/error_rate", headers=admin_headers(["payments:write"])) as r:
            assert r.status == 403 and 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
            assert (await problem_of(r))["detail"] == "the token lacks the scope admin:faults"
        async with client.get("/admin/faults") as r:
            assert r.status == 401
        async with client.get("/admin/faults", headers=admin_headers()) as r:
            assert (r.status, await r.json()) == (200, {"faults": []})

    run(body)


def test_setting_listing_and_clearing_faults():
    async def body(client, komoju, knet, service, app):
        h = admin_headers()
        assert await put(client, "latency", provider="knet", extra_ms=1) == {
            "name": "latency", "provider": "knet", "extra_ms": 1, "ends_in_s": 900.0}
        await put(client, "latency", provider="komoju", extra_ms=1, duration_s=60)
        await put(client, "error_rate", provider="komoju", rate=0)
        async with client.get("/admin/faults", headers=h) as r:
            assert sorted((f["name"], f["provider"]) for f in (await r.json())["faults"]) == [
                ("error_rate", "komoju"), ("latency", "knet"), ("latency", "komoju")]
        async with client.delete("/admin/faults/latency?provider=knet", headers=h) as r:
            assert [f["provider"] for f in (await r.json())["cleared"]] == ["knet"]
        async with client.delete("/admin/faults/error_rate", headers=h) as r:  # every provider
            assert [f["provider"] for f in (await r.json())["cleared"]] == ["komoju"]
        async with client.get("/admin/faults", headers=h) as r:
            assert [f["name"] for f in (await r.json())["faults"]] == ["latency"]

        async with client.put("/admin/faults/meltdown", json={}, headers=h) as r:
            assert r.status == 404 and "known: error_rate, latency" in (await problem_of(r))["detail"]
        for bad, field in (({"provider": "stripe", "rate": 1}, "provider"), ({"provider": "knet", "rate": 2}, "rate"),
                           ({"provider": "knet"}, "rate"), ({"provider": "knet", "rate": 1, "colour": 1}, "colour"),
                           ({"provider": "knet", "rate": 1, "status": 200}, "status"),
                           ({"provider": "knet", "rate": 1, "duration_s": 0}, "duration_s")):
            async with client.put("/admin/faults/error_rate", json=bad, headers=h) as r:
                assert (r.status, (await problem_of(r))["field"]) == (422, field)
        async with client.put("/admin/faults/error_rate", data=b"{nope", headers=h) as r:
            assert (r.status, (await problem_of(r))["field"]) == (422, "body")
        async with client.post("/admin/faults/error_rate", headers=h) as r:
            assert (r.status, r.headers["Allow"]) == (405, "PUT, DELETE")

    run(body)


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


def test_webhooks_go_to_the_target_and_not_without_one():
    async def body(client, komoju, knet, service, app):
        async with client.post("/webhooks/komoju/events?v=2", data=b'{"type": "charge.captured"}',
                               headers={"X-Moneypath-Signature": "t=1,n=abc,v1=00"}) as r:
            assert (r.status, (await r.json())["upstream"]) == (201, "service")
        seen = service.seen[0]
        assert (seen["path_qs"], seen["body"]) == ("/hooks/events?v=2", b'{"type": "charge.captured"}')
        assert seen["headers"]["X-Moneypath-Signature"] == "t=1,n=abc,v1=00"
        async with client.post("/webhooks/stripe/events", data=b"{}") as r:
            assert r.status == 404 and (await problem_of(r))["known"] == ["komoju", "knet"]

    run(body)

    async def without(client, komoju, knet, service, app):
        async with client.post("/webhooks/komoju/events", data=b"{}") as r:
            assert r.status == 404 and "--webhook-target" in (await problem_of(r))["detail"]

    run(without, webhooks=False)


async def until(predicate, timeout_s: float = 5.0):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_duplicate_webhooks_are_delivered_twice():
    async def body(client, komoju, knet, service, app):
        await put(client, "duplicate_webhooks", provider="knet", rate=1)
        async with client.post("/webhooks/knet/events", data=b'{"id": "evt_1"}') as r:
            assert (r.status, (await r.json())["n"]) == (201, 1)  # the provider gets the first delivery's answer
        await until(lambda: len(service.seen) == 2)
        assert [s["body"] for s in service.seen] == [b'{"id": "evt_1"}'] * 2
        async with client.post("/webhooks/komoju/events", data=b'{"id": "evt_2"}') as r:  # only knet's
            assert r.status == 201
        await asyncio.sleep(0.1)
        assert len(service.seen) == 3

    run(body)


def test_out_of_order_webhooks_deliver_the_next_one_first():
    async def body(client, komoju, knet, service, app):
        await put(client, "out_of_order_webhooks", provider="komoju")
        async with client.post("/webhooks/komoju/events", data=b'{"id": "evt_1"}') as r:
            assert r.status == 202 and (await r.json())["fault"] == "out_of_order_webhooks"
        assert service.seen == []
        async with client.post("/webhooks/komoju/events", data=b'{"id": "evt_2"}') as r:
            assert r.status == 201  # its own delivery's answer
        await until(lambda: len(service.seen) == 2)
        assert [s["body"] for s in service.seen] == [b'{"id": "evt_2"}', b'{"id": "evt_1"}']

        # A held webhook with no partner is delivered when the fault is cleared.
        async with client.post("/webhooks/komoju/events", data=b'{"id": "evt_3"}') as r:
            assert r.status == 202
        async with client.get("/healthz") as r:
            assert (await r.json())["webhooks"]["held"] == 1
        async with client.delete("/admin/faults/out_of_order_webhooks?provider=komoju", headers=admin_headers()) as r:
            assert r.status == 200
        await until(lambda: len(service.seen) == 3)
        assert service.seen[2]["body"] == b'{"id": "evt_3"}'

    run(body)


def test_delayed_webhooks_are_accepted_at_once_and_delivered_late():
    async def body(client, komoju, knet, service, app):
        loop = asyncio.get_running_loop()
        await put(client, "delay_webhooks", provider="knet", delay_s=0.4)
        start = loop.time()
        async with client.post("/webhooks/knet/events", data=b'{"id": "evt_1"}') as r:
            assert r.status == 202 and (await r.json())["deliver_in_s"] == 0.4
        assert service.seen == []
        await until(lambda: len(service.seen) == 1)
        assert loop.time() - start >= 0.35

        await put(client, "delay_webhooks", provider="knet", delay_s=600)
        async with client.post("/webhooks/knet/events", data=b'{"id": "evt_2"}') as r:
            assert r.status == 202
        async with client.delete("/admin/faults/delay_webhooks", headers=admin_headers()) as r:
            assert r.status == 200  # clearing the fault delivers what it delayed now
        await until(lambda: len(service.seen) == 2)
        async with client.get("/healthz") as r:
            assert (await r.json())["webhooks"] == {"held": 0, "in_flight": 0, "delivered": 2, "failed": 0}

    run(body)


def test_a_webhook_the_proxy_delivers_itself_is_retried_on_a_5xx(monkeypatch):
    monkeypatch.setattr(fp.proxy_webhooks, "BACKGROUND_RETRIES_S", (0.01, 0.01, 0.01))

    async def body(client, komoju, knet, service, app):
        await put(client, "delay_webhooks", provider="knet", delay_s=0.1)
        async with client.post("/webhooks/knet/fail", data=b"{}") as r:
            assert r.status == 202
        await until(lambda: app[fp.WEBHOOKS].failed == 1)
        assert len(service.seen) == 4  # the first attempt and three retries

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


def test_without_aiohttp_the_command_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    result = run_cli("faultproxy", "--catalog", FOREIGN, "--upstream", "komoju=http://127.0.0.1:9")
    assert (result.returncode, result.stderr) == (2, "moneypath faultproxy needs moneypath[tools]: pip install "
                                                     "'moneypath[tools]' (aiohttp is not installed)\n")


# --- hostile input to the admin API (issue 32): every malformed request a 4xx problem, never a 500 -----------

DEEP = b"[" * 100_000 + b"]" * 100_000


def test_every_malformed_admin_request_is_a_4xx_problem_and_nothing_is_logged_as_a_failure(caplog):
    h = admin_headers()
    cases = [  # (method, path, body, status, words in the detail)
        ("PUT", "/admin/faults/error_rate", DEEP, 422, "nested too deeply"),
        ("PUT", "/admin/faults/error_rate", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 422, "nested too deeply"),
        ("PUT", "/admin/faults/error_rate", b"", 422, "not valid JSON"),
        ("PUT", "/admin/faults/error_rate", b"\xff\xfe", 422, "not UTF-8"),
        ("PUT", "/admin/faults/error_rate", b"[1, 2]", 422, "must be a JSON object"),
        ("PUT", "/admin/faults/error_rate", b'"komoju"', 422, "must be a JSON object"),
        ("PUT", "/admin/faults/error_rate", b"9" * 5000, 422, "not valid JSON"),
        ("PUT", "/admin/faults/error_rate", b'{"provider": "knet", "rate": NaN}', 422, "rate"),
        ("PUT", "/admin/faults/error_rate", b'{"provider": "knet", "rate": 1, "duration_s": Infinity}', 422,
         "duration_s"),
        ("PUT", "/admin/faults/error_rate", b'{"provider": "knet", "provider": "komoju", "rate": 1}', 422,
         "appears twice"),
        ("PUT", "/admin/faults/error_rate", b'{"provider": "komjuu", "rate": 1}', 422, "did you mean komoju?"),
        ("PUT", "/admin/faults/error_rate", b'{"provider": ["knet"], "rate": 1}', 422, "provider"),
        ("PUT", "/admin/faults/error_rate?provider=knet", b'{"provider": "knet", "rate": 1}', 400,
         "takes no query"),
        ("PUT", "/admin/faults/eror_rate", b"{}", 404, "did you mean error_rate?"),
        ("PUT", "/admin/faults/%ff%00", b"{}", 404, "no fault named"),
        ("DELETE", "/admin/faults/error_rate?provider=stripe", b"", 404, "known: komoju, knet"),
        ("DELETE", "/admin/faults/error_rate?provider=knett", b"", 404, "did you mean knet?"),
        ("DELETE", "/admin/faults/error_rate?provider=", b"", 404, "no such provider"),
        ("DELETE", "/admin/faults/error_rate?provider=knet&provider=komoju", b"", 400, "more than once"),
        ("DELETE", "/admin/faults/error_rate?providr=knet", b"", 400, "did you mean provider?"),
        ("DELETE", "/admin/faults/latencyy?provider=knet", b"", 404, "did you mean latency?"),
        ("GET", "/admin/faults?verbose=1", b"", 400, "takes no query"),
    ]

    async def body(client, komoju, knet, service, app):
        await put(client, "error_rate", provider="knet", rate=0)
        for method, path, data, status, words in cases:
            async with client.request(method, path, data=data, headers=h) as r:
                assert r.status == status, (method, path[:60], await r.text())
                detail = (await problem_of(r))["detail"]
                assert words in detail and "Traceback" not in detail, (path[:60], detail)
        async with client.get("/admin/faults", headers=h) as r:  # none of it cleared or changed the fault
            assert [(f["name"], f["provider"], f["rate"]) for f in (await r.json())["faults"]] == [
                ("error_rate", "knet", 0)]

    with caplog.at_level("WARNING", logger="moneypath.faultproxy"):
        run(body)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_an_unknown_provider_in_a_clear_is_a_404_naming_the_known_ones():
    async def body(client, komoju, knet, service, app):
        async with client.delete("/admin/faults/error_rate?provider=globex", headers=admin_headers()) as r:
            assert r.status == 404
            problem = await problem_of(r)
            assert problem["type"].endswith("/unknown-provider") and problem["known"] == ["komoju", "knet"]
        async with client.delete("/admin/faults/error_rate?provider=komoju", headers=admin_headers()) as r:
            assert r.status == 200 and (await r.json()) == {"cleared": []}  # a known provider with nothing set

    run(body)
