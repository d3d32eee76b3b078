"""A Locust user whose payment is a flow (moneypath.loadtest.in_locust.flows), without Locust: the Django shop's three-step
GraphQL checkout from its request template against an in-process fake. Each step is its own request, the one that
authorizes named for the latency gates, the checkout counted once as a FLOW with the failing step and reason; the
failure ratio judges checkouts, not HTTP 200s, and rates are reported per flow and per step."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest
import yaml

from moneypath.formats import scenarios
from moneypath.loadtest.command import stats
from moneypath.loadtest.command.run_report import flow_facts
from moneypath.loadtest.in_locust import client, flows
from moneypath.loadtest.in_locust.request_names import FLOW
from tests.conftest import SHIPPED_SCENARIOS
from tests.support.graphql_shop_fake import TEMPLATE, FakeShop
from tests.support.locust_stats import entry
from tests.unit.loadtest.test_client import Answer


class FlowClient:
    """Locust's FastHttp client's `request`, answered by an httpx handler (the fake shop)."""

    def __init__(self, handler):
        self.handler, self.sent, self.given = handler, [], []

    def request(self, method, url, name=None, headers=None, json=None, catch_response=False):
        self.sent.append({"method": method, "url": url, "name": name, "headers": headers, "json": json})
        answer = self.handler(httpx.Request(method, f"http://shop{url}", json=json))
        self.given.append(Answer(answer.status_code, answer.json()))
        return self.given[-1]


class Shopper(client.PaymentClient):
    template = str(TEMPLATE)


def shopper(shop, catalog):
    fired = []
    u = Shopper()
    u.client = FlowClient(shop)
    u.environment = SimpleNamespace(events=SimpleNamespace(request=SimpleNamespace(fire=lambda **kw: fired.append(
        {"type": kw["request_type"], "name": kw["name"], "error": str(kw["exception"]) if kw["exception"] else None}))))
    spec = scenarios.load(SHIPPED_SCENARIOS, catalog)
    u.begin(client.LoadSettings(spec, spec.get("checkout"), 10, 10, 60, None))
    u.fired = fired
    return u


def test_a_checkout_is_three_named_steps_and_one_flow(catalog):
    shop = FakeShop()
    u = shopper(shop, catalog)
    order = u.order()
    payment = u.authorize(order)
    p = f"[requested {order.provider}]"
    assert [s["name"] for s in u.client.sent] == [f"checkoutCreate {p}", f"checkoutPaymentCreate {p}",
                                                  f"authorize:checkoutComplete {p}"]
    assert u.client.sent[1]["json"]["variables"]["checkoutId"] == "c1" and u.client.sent[2]["url"] == "/graphql/"
    assert payment.id == "o3" and payment.provider == order.provider
    assert u.fired == [{"type": FLOW, "name": f"checkout {p}", "error": None}]
    assert Shopper.endpoints() == ("authorize",)  # from the template: no capture call in it


def test_a_decline_inside_a_200_fails_the_checkout_with_its_step_and_reason(catalog):
    shop = FakeShop()
    shop.declining = True
    u = shopper(shop, catalog)
    assert u.authorize(u.order()) is None
    reason = "checkoutComplete: data.checkoutComplete.errors is not empty (PAYMENT_ERROR)"
    assert [a.status_code for a in u.client.given] == [200, 200, 200]
    assert u.client.given[-1].failed == reason and u.client.given[0].failed is None
    assert u.fired[0]["type"] == FLOW and u.fired[0]["error"] == reason


def test_the_failure_ratio_judges_checkouts_and_latency_the_authorizing_step():
    entries = [entry("checkoutCreate [paystack]", times={"30": 20}),
               entry("checkoutPaymentCreate [paystack]", times={"30": 20}),
               entry("authorize:checkoutComplete [paystack]", times={"90": 19, "400": 1}, failures=5),
               entry("checkout [paystack]", method=FLOW, times={"150": 19, "3000": 1}, failures=5)]
    s = stats.summarize(entries, duration_s=10)
    assert (s.judged_requests, s.judged_failures) == (20, 5)  # the checkouts, not the 60 HTTP requests
    assert s.http_requests == 60 and s.flows == 20 and s.flow_rps == 2.0 and s.flow_failures == 5
    assert s.authorize_p99_ms == 400 and s.authorizations == 20  # the step, not the 3 s checkout
    loc = {"flows": s.flows, "flow_rps": s.flow_rps, "flow_failures": s.flow_failures,
           "by_name": [r.__dict__ for r in s.rows],
           "flow_failure_reasons": {"checkout [paystack]: checkoutComplete: data.checkoutComplete.errors": 5}}
    facts = dict(flow_facts(loc))
    assert facts["flows"] == "2.00/s, 20 flows, 5 failed"
    assert "authorize:checkoutComplete [paystack] 2.00/s (5 failed)" in facts["per step"]
    assert facts["flow failed"] == "checkout [paystack]: checkoutComplete: data.checkoutComplete.errors: 5x"


def test_flow_failure_reasons_are_read_from_locusts_failures_file(tmp_path):
    path = tmp_path / "locust_failures.csv"
    path.write_text('Method,Name,Error,Occurrences\n'
                    'FLOW,checkout [paystack],"Exception(\'checkoutComplete: data.checkoutComplete.errors is not '
                    'empty (PAYMENT_ERROR)\')",7\n'
                    'POST,authorize:checkoutComplete [paystack],"CatchResponseError(\'x\')",7\n')
    assert stats.flow_failure_reasons(path) == {
        "checkout [paystack]: checkoutComplete: data.checkoutComplete.errors is not empty (PAYMENT_ERROR)": 7}


def test_a_bad_template_names_its_file_line_and_key(tmp_path):
    doc = yaml.safe_load(TEMPLATE.read_text())
    doc["flow"][1]["json"]["variables"]["checkoutId"] = "{checkout}"
    bad = tmp_path / "shop.yaml"
    bad.write_text(yaml.safe_dump(doc, sort_keys=False))

    class Broken(client.PaymentClient):
        template = str(bad)

    with pytest.raises(SystemExit) as err:
        Broken.endpoints()
    line = bad.read_text().splitlines().index("- name: checkoutPaymentCreate") + 1
    assert str(err.value).startswith(f"moneypath: Broken.template: {bad}:{line}: flow.1: unknown placeholder "
                                     "{checkout}"), err.value
    flows._TEMPLATES.clear()


def test_a_scenario_that_retries_refuses_a_template_flow_in_one_line(catalog):
    spec = scenarios.load(SHIPPED_SCENARIOS, catalog)
    retrying = next(s for s in spec.scenarios.values() if s.retry is not None)
    problem, _ = client.mix_problems(Shopper, client.LoadSettings(spec, retrying, 10, 10, 60, None))
    assert problem.startswith(f"scenario {retrying.name} retries each request with its key and replays it: "
                              "Shopper's template flow is not retried")
    assert client.mix_problems(Shopper, client.LoadSettings(spec, spec.get("checkout"), 10, 10, 60, None))[0] is None
