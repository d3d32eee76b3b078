"""Admission control of the reference service: the adaptive limit learned from latency, fast 503 +
Retry-After above it, critical money movements ahead of new authorizations, health never limited."""

from __future__ import annotations

import asyncio
import json

from moneypath.reference.refservice import admission
from moneypath.reference.refservice.admission import AdmissionControl, Gradient
from moneypath.reference.refservice.app import classify


def feed(g: Gradient, latency_s: float, seconds: float, start: float, per_window: int = 20) -> float:
    """`per_window` completions of `latency_s` in each of g's windows for `seconds`; returns the end time."""
    now = start
    while now < start + seconds:
        for _ in range(per_window):
            g.observe(latency_s, now)
        now += g.window_s
    return now


def test_the_limit_grows_while_latency_is_flat_and_shrinks_when_requests_queue():
    g = Gradient(limit=20)
    t = feed(g, 0.020, 5, 0.0)
    grown = g.limit
    assert grown > 40  # probing upwards: flat latency says there is no queue yet
    t = feed(g, 0.200, 3, t)  # 10x the no-queue latency: requests are waiting
    assert g.limit < grown / 4 and g.limit >= g.min_limit
    shrunk = g.limit
    feed(g, 0.020, 3, t)  # the queue drained: it grows again
    assert g.limit > shrunk * 2


def test_latency_within_tolerance_does_not_shrink_the_limit():
    g = Gradient(limit=50, tolerance=2.0)
    t = feed(g, 0.050, 5, 0.0)
    before = g.limit
    feed(g, 0.080, 2, t)  # 1.6x: provider jitter, not a queue
    assert g.limit >= before


def test_a_stall_at_light_load_leaves_the_limit_alone():
    g = Gradient(limit=40)
    now = 0.0
    for latency in [0.010] * 30 + [0.500] * 30:  # 3 in flight at most: the load, not the service, is small
        for _ in range(5):
            g.observe(latency, now, in_flight=3)
        now += g.window_s
    assert g.limit == 40


class Slow:
    """An inner app that answers 200 after being released."""

    def __init__(self):
        self.release = asyncio.Event()
        self.entered = 0

    async def __call__(self, scope, receive, send):
        self.entered += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def request(app, method: str, path: str) -> tuple[int, dict, bytes]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app({"type": "http", "method": method, "path": path, "headers": []}, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


def test_above_the_limit_new_work_is_refused_at_once_and_money_in_motion_still_gets_in():
    async def scenario():
        inner = Slow()
        fixed = Gradient(limit=2, min_limit=2, max_limit=2)
        app = AdmissionControl(inner, classify, fixed, reserve=0.5)
        held = [asyncio.create_task(request(app, "POST", "/v1/payments/authorize")) for _ in range(2)]
        await asyncio.sleep(0.01)
        status, headers, body = await asyncio.wait_for(request(app, "POST", "/v1/payments/authorize"), 1)
        assert status == 503 and headers["retry-after"] == "1"
        assert headers["content-type"] == "application/problem+json"
        assert json.loads(body)["type"].endswith("/overloaded")
        critical = [asyncio.create_task(request(app, "POST", f"/v1/payments/pay_{i}/capture")) for i in range(2)]
        await asyncio.sleep(0.01)
        assert inner.entered == 4  # the limit is 2; captures may use the reserve (2 * 1.5 + 1 = 4)
        status, _, _ = await asyncio.wait_for(request(app, "POST", "/v1/payments/pay_9/refund"), 1)
        assert status == 503  # the reserve is bounded too
        health = asyncio.create_task(request(app, "GET", "/healthz"))
        await asyncio.sleep(0.01)
        assert inner.entered == 5  # never limited
        inner.release.set()
        results = await asyncio.gather(*held, *critical, health)
        assert [r[0] for r in results] == [200] * 5
        assert app.in_flight == 0 and app.refused == {admission.CRITICAL: 1, admission.NORMAL: 1}
        assert (await request(app, "POST", "/v1/payments/authorize"))[0] == 200  # room again

    asyncio.run(scenario())


def test_the_reference_service_classifies_money_in_motion_as_critical():
    assert classify("POST", "/v1/payments/pay_1/capture") == admission.CRITICAL
    assert classify("POST", "/v1/payments/pay_1/refund") == admission.CRITICAL
    assert classify("POST", "/v1/webhooks/acme") == admission.CRITICAL
    assert classify("POST", "/v1/payments/authorize") == admission.NORMAL
    assert classify("POST", "/v1/payouts") == admission.NORMAL
    assert classify("GET", "/v1/payments/pay_1") == admission.NORMAL
    assert {classify("GET", p) for p in ("/healthz", "/metrics", "/admin/faults")} == {admission.EXEMPT}


def test_the_request_cost_fault_holds_the_loop_for_admitted_api_requests_only():
    """A costlier release (the overload-spike drill's fault): each admitted API request holds the event loop
    extra_ms; health, metrics and admin never pay it, and a refusal stays cheap (the fault is inside admission)."""
    import time

    from moneypath.reference.refservice.faults import RequestCost, service_faults

    async def scenario():
        faults = service_faults()
        inner = Slow()
        inner.release.set()
        cost = RequestCost(inner, faults, lambda method, path: classify(method, path) != admission.EXEMPT)
        fixed = Gradient(limit=1, min_limit=1, max_limit=1)
        app = AdmissionControl(cost, classify, fixed)

        async def timed(method, path):
            started = time.perf_counter()
            status = (await request(app, method, path))[0]
            return status, time.perf_counter() - started

        assert (await timed("POST", "/v1/payments/authorize"))[1] < 0.03  # no fault: no cost
        faults.set("request_cost", {"extra_ms": 60})
        status, took = await timed("POST", "/v1/payments/authorize")
        assert status == 200 and took >= 0.06
        assert (await timed("GET", "/healthz"))[1] < 0.03
        assert (await timed("GET", "/admin/faults"))[1] < 0.03
        inner.release.clear()  # one authorization holds the only slot: the next is refused, without the cost
        held = asyncio.create_task(request(app, "POST", "/v1/payments/authorize"))
        await asyncio.sleep(0.1)
        status, took = await timed("POST", "/v1/payments/authorize")
        assert status == 503 and took < 0.03
        inner.release.set()
        assert (await held)[0] == 200
        faults.clear("request_cost")
        assert (await timed("POST", "/v1/payments/authorize"))[1] < 0.03

    asyncio.run(scenario())


def test_a_spike_from_a_quiet_baseline_is_judged_against_the_latency_learned_while_quiet():
    """The overload-spike drill: light load (few in flight), then at once more than the service carries. The
    queued latency of the spike's first windows must not become the no-queue reference."""
    g = Gradient(limit=50)
    now = 0.0
    for _ in range(150):  # 15 s at light load: 3 in flight, 20 ms each
        for _ in range(5):
            g.observe(0.020, now, in_flight=3)
        now += g.window_s
    assert g.limit == 50 and 0.015 < g.long_rtt < 0.025
    for _ in range(30):  # 3 s of spike: the limit is full and requests wait 300 ms
        for _ in range(20):
            g.observe(0.300, now)
        now += g.window_s
    assert g.limit < 25
