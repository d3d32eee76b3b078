"""The fault proxy's webhooks (moneypath.stack.faultproxy.proxy_webhooks): relayed to the target, duplicated, held out of
order, delayed, retried, in-process on loopback between a test client and a small recording upstream and webhook
receiver (aiohttp; tests/support/faultproxy.py). The real process:
tests/integration/stack/test_faultproxy_process.py."""

from __future__ import annotations

import asyncio

from moneypath.stack import faultproxy as fp
from tests.support.faultproxy import admin_headers, problem_of, put, run


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
