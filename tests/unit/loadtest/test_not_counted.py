"""An authorization the service acknowledges without counting it (screened out before any provider call): the load
test's client reports it as a CHECK, from a PaymentUser's `not_counted` or a request template's counter.not_counted,
and the conservation of counts leaves it out of what must have been counted; without Locust."""

from __future__ import annotations

from moneypath.formats.requests import Counter
from moneypath.loadtest.command import counts
from moneypath.loadtest.in_locust import client, flows
from moneypath.loadtest.in_locust.request_names import CHECK, FLOW, NOT_COUNTED
from tests.support.graphql_shop_fake import FakeShop
from tests.unit.loadtest.test_client import Full, user
from tests.unit.loadtest.test_counts import entry
from tests.unit.loadtest.test_flows import Shopper, shopper


class Screened(Full):
    not_counted = {"risk_decision": ["decline", "hold"]}  # as the reference service's locustfile declares


def test_a_screened_out_authorization_is_a_not_counted_check_and_a_counted_one_is_not(spec):
    u = user(Screened, spec, "checkout", (201, {"id": "pay_1", "state": "declined", "risk_decision": "decline"}),
             (201, {"id": "pay_2", "state": "authorized", "risk_decision": "approve"}))
    u.authorize(u.order())
    u.authorize(u.order())
    assert u.fired == [{"type": CHECK, "name": NOT_COUNTED, "error": None}]
    plain = user(Full, spec, "checkout", (201, {"id": "pay_1", "risk_decision": "decline"}))
    plain.authorize(plain.order())
    assert plain.fired == []  # a user that declares nothing: every acknowledged authorization counted
    assert client.PaymentClient.not_counted == {}


def test_a_flows_authorizing_answer_the_template_does_not_count_is_reported(catalog, monkeypatch):
    u = shopper(FakeShop(), catalog)
    api = flows.template_of(Shopper)
    rules = {"data.checkoutComplete.order.paymentStatus": ["AUTHORIZED"]}
    monkeypatch.setitem(flows._TEMPLATES, Shopper, api.model_copy(update={"counter": Counter(not_counted=rules)}))
    u.authorize(u.order())
    assert [f["type"] for f in u.fired] == [CHECK, FLOW] and u.fired[0]["name"] == NOT_COUNTED
    assert flows.uncounted(rules, {"data": {"checkoutComplete": {"order": {"paymentStatus": "HELD"}}}}) is False


def test_the_lower_bound_leaves_them_out_and_the_upper_keeps_them():
    entries = [entry("POST", "authorize [acme]", 100, 2), entry(CHECK, NOT_COUNTED, 7),
               entry(CHECK, "idempotency: one payment per key", 5)]
    assert counts.authorizations(entries) == (100, 91)
