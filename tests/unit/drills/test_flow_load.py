"""A drill's load as a flow (moneypath.drills.baseline_load with a flow template): the Django shop's three-step
GraphQL checkout against an in-process fake passes the checkout id along, a failure inside HTTP 200 is a failed
flow counted with its step and reason, a missing capture too; and the load's concurrency cap holds against a
deliberately slow loopback target that serves one flow per second, with no unbounded retries."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time

import httpx
import pytest
import yaml

from moneypath.drills.baseline_load import Load, Mix, TemplateError, probe
from moneypath.formats.drill import LoadSpec
from moneypath.formats.requests import Requests
from tests.conftest import free_port
from tests.support.graphql_shop_fake import TEMPLATE, FakeShop


def shop_requests() -> Requests:
    return Requests.model_validate(yaml.safe_load(TEMPLATE.read_text()))


def run_payments(requests: Requests, shop, n: int) -> Load:
    load = Load("http://shop", {}, requests, Mix({"paystack": 1}, {"KWD": 1}, {"card": 1}, 6235, 6235, 0), 1,
                lambda minor, currency: "6.235")

    async def go():
        async with httpx.AsyncClient(base_url="http://shop", transport=httpx.MockTransport(shop)) as client:
            for i in range(n):
                await load._payment(client, i)
    asyncio.run(go())
    return load


def test_a_three_step_checkout_passes_the_checkout_id_along():
    shop = FakeShop()
    load = run_payments(shop_requests(), shop, 2)
    assert [op for op, _ in shop.calls[:3]] == ["CheckoutCreate", "CheckoutPaymentCreate", "CheckoutComplete"]
    create, pay, complete = (v for _, v in shop.calls[:3])
    assert create["lines"][0]["unitPrice"] == "6.235" and create["currency"] == "KWD"
    assert pay == {"checkoutId": "c1", "provider": "paystack", "amount": "6.235"} and complete == {"checkoutId": "c1"}
    first = load.outcomes[0]
    assert first.payment_id == "o3" and first.state == "AUTHORIZED" and not first.failed
    assert load.stats.acknowledged == 2 and load.stats.failed == 0
    assert load.stats.steps == {name: {"sent": 2, "failed": 0}
                                for name in ("checkoutCreate", "checkoutPaymentCreate", "checkoutComplete")}


def test_a_failure_inside_a_200_fails_the_flow_with_its_step_and_reason():
    shop = FakeShop()
    shop.declining = True
    load = run_payments(shop_requests(), shop, 3)
    assert all(o.failed and o.payment_id is None for o in load.outcomes)
    reason = "checkoutComplete: data.checkoutComplete.errors is not empty (PAYMENT_ERROR)"
    assert load.stats.failures == {reason: 3} and load.stats.acknowledged == 0
    assert load.stats.steps["checkoutComplete"] == {"sent": 3, "failed": 3}
    assert load.stats.statuses == {"200": 9}  # every answer was a 200


def test_a_missing_capture_fails_the_flow_before_the_next_step():
    shop = FakeShop()
    shop.drop_id = True
    load = run_payments(shop_requests(), shop, 1)
    assert load.stats.failures == {"checkoutCreate: no data.checkoutCreate.checkout.id to capture as checkout_id": 1}
    assert [op for op, _ in shop.calls] == ["CheckoutCreate"]


def test_the_in_flight_cap_defaults_to_the_rate_and_the_template_caps_it():
    spec = {"rate": 3, "baseline": 5, "capture": 0, "providers": {"paystack": 1}, "currencies": {"EUR": 1},
            "amounts": {"min": 100, "max": 100}, "requests": yaml.safe_load(TEMPLATE.read_text())}
    assert LoadSpec.model_validate(spec).in_flight_cap == 8  # the shop's template: 8 at most
    del spec["requests"]["concurrency"]
    assert LoadSpec.model_validate(spec).in_flight_cap == 16  # four seconds of 3/s, at least 16
    assert LoadSpec.model_validate({**spec, "rate": 10}).in_flight_cap == 40
    assert LoadSpec.model_validate({**spec, "rate": 100}).in_flight_cap == 64
    assert LoadSpec.model_validate({**spec, "concurrency": 400}).in_flight_cap == 400


class SlowTarget(http.server.ThreadingHTTPServer):
    """Serves one flow per second (one request at a time, a second each); a request that waited over 1.5 s for
    its turn is answered 502, as a proxy in front of a saturated service would. Counts open connections."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", free_port()), _SlowHandler)
        self.turn, self.count_lock = threading.Lock(), threading.Lock()
        self.open = self.most_open = self.requests = self.served = 0

    def finish_request(self, request, client_address):
        with self.count_lock:
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        try:
            super().finish_request(request, client_address)
        finally:
            with self.count_lock:
                self.open -= 1


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        server: SlowTarget = self.server
        with server.count_lock:
            server.requests += 1
        if server.turn.acquire(timeout=1.5):
            try:
                time.sleep(1.0)
                server.served += 1
                status, body = 200, {"id": f"p{server.served}", "status": "ok"}
            finally:
                server.turn.release()
        else:
            status, body = 502, {}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_three_a_second_against_one_a_second_stays_under_the_cap():
    requests = Requests.model_validate({"name": "checkout", "concurrency": 3, "approved": ["ok"], "flow": [
        {"name": "pay", "path": "/pay", "id": "id", "outcome": "status"}]})
    spec = LoadSpec.model_validate({"rate": 3, "baseline": 5, "capture": 0, "providers": {"acme": 1},
                                    "currencies": {"EUR": 1}, "amounts": {"min": 100, "max": 100},
                                    "requests": requests.model_dump(by_alias=True)})
    target = SlowTarget()
    threading.Thread(target=target.serve_forever, daemon=True).start()
    try:
        load = Load(f"http://127.0.0.1:{target.server_address[1]}", {}, spec.requests,
                    Mix({"acme": 1}, {"EUR": 1}, {"card": 1}, 100, 100, 0), spec.rate, lambda m, c: str(m),
                    spec.in_flight_cap, timeout_s=5)
        load.start()
        time.sleep(4)
        load.stop(timeout_s=30)
    finally:
        target.shutdown()
        target.server_close()
    stats = load.stats
    assert spec.in_flight_cap == 3
    assert stats.most_in_flight <= 3 and target.most_open <= 3, (stats.most_in_flight, target.most_open)
    assert stats.behind >= 4  # about 12 offered, at most 3 in flight and ~1/s served: the rest never started
    assert target.requests <= stats.started * 3  # each 502 retried at most twice, under the same cap
    assert stats.acknowledged == target.served >= 3


class _ShopHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        answer = self.server.shop(httpx.Request("POST", f"http://shop{self.path}", content=body))
        self.send_response(answer.status_code)
        self.send_header("content-length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, *args):
        pass


def test_the_preflight_runs_the_flow_and_names_the_step_that_failed():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _ShopHandler)
    server.shop = FakeShop()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    values = {"amount_minor": 6235, "amount_major": "6.235", "currency": "KWD", "provider": "paystack",
              "method": "card", "reference": "r1", "correlation_id": "c1"}
    try:
        seen = probe(url, {}, shop_requests(), values)
        server.shop.declining = True
        with pytest.raises(TemplateError) as err:
            probe(url, {}, shop_requests(), values)
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ("checkoutCreate, checkoutPaymentCreate, checkoutComplete → data.checkoutComplete.order.id=o3, "
                    "data.checkoutComplete.order.paymentStatus=AUTHORIZED, read back")
    assert str(err.value) == ("checkoutComplete: data.checkoutComplete.errors is not empty (PAYMENT_ERROR) "
                              "(load.requests, step checkoutComplete; it has: data)")


def test_the_probe_captures_only_when_the_drills_load_does():
    """A target that captures by itself (load.capture: 0): the preflight and warm-up payments are not captured by
    the drill too, which would be a second capture of the drill's own doing."""
    from tests.loopback_http import LoopbackServer, QuietHandler

    paths: list[str] = []

    class Api(QuietHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"] or 0))
            paths.append(self.path)
            body = b'{"id": "p1", "status": "approved"}'
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    requests = Requests.model_validate({
        "auth": "none", "approved": ["approved"],
        "authorize": {"path": "/payments", "json": {"amount": "{amount_minor}"}, "id": "id", "outcome": "status"},
        "capture": {"path": "/payments/{payment_id}/capture"}})
    values = {"amount_minor": 100, "amount_major": "1.00", "currency": "EUR", "provider": "p", "method": "card",
              "reference": "r1", "correlation_id": "c1"}
    with LoopbackServer(Api) as server:
        assert probe(server.url, {}, requests, values, capture=False).endswith("status=approved")
        assert paths == ["/payments"]
        assert probe(server.url, {}, requests, values).endswith(", captured")
        assert paths == ["/payments", "/payments", "/payments/p1/capture"]
