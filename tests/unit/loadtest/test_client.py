"""A team's locustfile, without Locust: the body of PaymentUser (moneypath.loadtest.in_locust.client) against a fake
client: request names, headers and answers, the mix, retries and the replay check. Locust itself is never
imported here."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from moneypath.catalog.pan import mentions_card_number
from moneypath.formats import scenarios
from moneypath.loadtest.command import stats
from moneypath.loadtest.in_locust import client, request_names
from moneypath.protocol.correlation_header import HEADER
from tests.conftest import ROOT, SHIPPED_SCENARIOS

FOREIGN = ROOT / "tests" / "foreign"


NOT_JSON = "<html>"


class Answer:
    def __init__(self, status, body, headers=None):
        self.status_code, self.body, self.error, self.headers = status, body, None, headers or {}
        self.content = b"" if body is None else b"..."
        self.failed = None
        self.request_meta = {"request_type": "POST"}  # what Locust fires when the block ends

    def json(self):
        if self.body is None or self.body == NOT_JSON:
            raise ValueError("no JSON")
        return self.body

    def success(self):
        pass

    def failure(self, why):
        self.failed = why

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeClient:
    """Locust's FastHttp client as PaymentClient uses it; answers from a list of (status, body), the last repeated."""

    def __init__(self, *answers):
        self.answers, self.sent, self.given = list(answers) or [(201, {"id": "pay_1"})], [], []

    def _answer(self, method, path, name, headers, body=None):
        self.sent.append({"method": method, "path": path, "name": name, "headers": headers, "json": body})
        status, answer, *headers = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        self.given.append(Answer(status, answer, *headers))
        return self.given[-1]

    def post(self, path, json=None, headers=None, name=None, catch_response=False):
        return self._answer("POST", path, name, headers, json)

    def get(self, path, headers=None, name=None, catch_response=False):
        return self._answer("GET", path, name, headers)


class Shop(client.PaymentClient):
    """The ticket shop's endpoints, as tests/foreign/locustfile.py declares them."""

    def authorize(self, order):
        return self.post("authorize", order, "/charges", json={"provider": order.provider, "amount_minor":
                                                                order.amount_minor})


class Full(client.PaymentClient):
    def authorize(self, order):
        return self.post("authorize", order, "/p", json={"amount_minor": order.amount_minor})

    def capture(self, payment):
        return self.post("capture", payment, f"/p/{payment.id}/capture")

    def refund(self, payment, amount_minor):
        return self.post("refund", payment, f"/p/{payment.id}/refund", json={"amount_minor": amount_minor})

    def payout(self, order):
        return self.post("payout", order, "/payouts")


@pytest.fixture(scope="module")
def shipped(catalog):
    return scenarios.load(SHIPPED_SCENARIOS, catalog)


def user(cls, sfile, scenario="checkout", *answers, token="tok"):
    fired = []
    u = cls()
    u.client = FakeClient(*answers)
    u.environment = SimpleNamespace(events=SimpleNamespace(request=SimpleNamespace(fire=lambda **kw: fired.append(
        {"type": kw["request_type"], "name": kw["name"], "error": str(kw["exception"]) if kw["exception"] else None}))))
    u.begin(client.LoadSettings(sfile, sfile.get(scenario), 10, 10, 60, token))
    u.fired = fired
    return u


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr(client.time, "sleep", slept.append)
    return slept


# ---------------------------------------------------------------- requests: names, headers, answers


def test_a_post_is_named_for_the_gates_and_carries_the_headers(shipped):
    u = user(Full, shipped)
    order = u.order()
    payment = u.authorize(order)
    sent = u.client.sent[0]
    assert (sent["method"], sent["path"], sent["name"]) == ("POST", "/p", f"authorize [requested {order.provider}]")
    assert sent["name"] == request_names.request_name("authorize", order.provider)
    assert sent["headers"]["authorization"] == "Bearer tok"
    assert sent["headers"][HEADER] == order.correlation_id and order.correlation_id.startswith("lt-")
    assert len(sent["headers"][client.IDEMPOTENCY_HEADER]) == 32
    assert payment == client.Payment("pay_1", order.provider, order.amount_minor, order.correlation_id,
                                     {"id": "pay_1"})
    captured = u.capture(payment)
    again = u.client.sent[1]
    assert again["headers"][HEADER] == order.correlation_id  # one id per payment
    assert again["headers"][client.IDEMPOTENCY_HEADER] != sent["headers"][client.IDEMPOTENCY_HEADER]
    assert (again["path"], again["name"], captured.amount_minor) == ("/p/pay_1/capture",
                                                                    f"capture [requested {order.provider}]",
                                                                    order.amount_minor)


@pytest.fixture(scope="module")
def shop_scenarios():
    from moneypath.catalog import load_catalog

    return scenarios.load(FOREIGN / "scenarios.yaml", load_catalog(FOREIGN / "moneypath.yaml"))


@pytest.mark.parametrize("sfile", ["shipped", "shop_scenarios"])
def test_a_request_is_named_by_the_provider_the_answer_names_else_the_requested_one(sfile, request, no_sleep):
    """The generator's draw is a request, not where the service routed it: labelled "requested" until an answer
    names a provider of the scenario file (then Locust records that one, and the payment's capture goes by it)."""
    spec = request.getfixturevalue(sfile)
    asked, other = list(spec.providers)[:2]
    u = user(Full, spec, "checkout", (201, {"id": "p1", "provider": other}), (201, {"id": "p2", "provider": "nope"}),
             (503, {"type": "x/provider-down", "provider": other}), (201, {"id": "p3"}))
    order = client.Order(asked, list(spec.currencies)[0], list(spec.methods)[0], 500, "r", "lt-1")
    first = u.authorize(order)
    u.authorize(order), u.authorize(order), u.authorize(order)
    recorded = [a.request_meta.get("name", s["name"]) for a, s in zip(u.client.given, u.client.sent)]
    assert recorded == [f"authorize [{other}]", f"authorize [requested {asked}]", f"authorize [requested {asked}]",
                        f"authorize [requested {asked}]"]
    assert first.provider == other
    u.capture(first)
    assert u.client.sent[-1]["name"] == f"capture [requested {other}]"
    # the gates read the provider either way: a judged provider's failures are its own
    assert stats.provider_of(f"authorize [requested {asked}]") == stats.provider_of(f"authorize [{asked}]") == asked
    assert request_names.answered_by(f"authorize [requested {asked}]{request_names.ATTEMPT}", other) == \
        f"authorize [{other}]{request_names.ATTEMPT}"


def test_a_retried_write_is_finally_named_by_the_provider_its_answer_names(shipped, no_sleep):
    asked, other = list(shipped.providers)[:2]
    u = user(Full, shipped, "retry_storm", (503, {}), (201, {"id": "p1", "provider": other}),
             (200, {"id": "p1", "provider": other}))
    u.authorize(client.Order(asked, "EUR", "card", 500, "r", "lt-1"))
    assert u.fired[0] == {"type": request_names.RETRIED, "name": f"authorize [{other}]", "error": None}


def test_without_a_token_no_authorization_header_is_sent(shipped):
    u = user(Full, shipped, "checkout", token=None)
    u.authorize(u.order())
    assert "authorization" not in u.client.sent[0]["headers"]


def test_the_payment_id_is_read_from_id_from_and_failures_are_none(shipped):
    u = user(Full, shipped, "checkout", (201, {"data": {"charge": {"id": 7}}}), (503, {"type": "x/provider-down"}),
             (200, NOT_JSON), (204, None))
    order = u.order()
    assert u.post("authorize", order, "/c", id_from="data.charge.id").id == 7
    assert u.post("authorize", order, "/c") is None
    assert u.post("authorize", order, "/c") is None  # a 200 that is not JSON
    assert u.post("authorize", order, "/c").id is None  # an empty 2xx: done, no id


def test_a_get_is_named_and_correlated_but_sends_no_key(shipped):
    u = user(Full, shipped, "checkout", (200, {"status": "approved"}))
    order = u.order()
    assert u.get("status", order, "/charges/1") == {"status": "approved"}
    sent = u.client.sent[0]
    assert (sent["method"], sent["name"]) == ("GET", f"status [requested {order.provider}]")
    assert client.IDEMPOTENCY_HEADER not in sent["headers"] and sent["headers"][HEADER] == order.correlation_id


def test_orders_follow_the_scenario_file_and_references_are_never_card_numbers(shipped, monkeypatch):
    import uuid

    u = user(Full, shipped)
    orders = [u.order() for _ in range(400)]
    assert {o.provider for o in orders} == set(shipped.providers)
    assert {o.currency for o in orders} == set(shipped.currencies)
    a = shipped.amount_minor
    assert all(a.min <= o.amount_minor <= a.max for o in orders)
    card = uuid.UUID(hex="4111111111111111" + "0" * 16)
    monkeypatch.setattr(client.uuid, "uuid4", lambda: card)
    assert mentions_card_number("order-" + card.hex[:16])
    assert [mentions_card_number(client.reference(k)) for k in ("order", "payout", "storm")] == [False] * 3


def test_zero_weights_are_never_drawn():
    pick = client.Weighted({"a": 0, "b": 3, "c": 1})
    assert pick.keys == ["b", "c"] and pick.cum == [3, 4]
    assert {pick() for _ in range(200)} == {"b", "c"}


# ---------------------------------------------------------------- the mix


def test_the_checkout_mix_runs_only_what_is_possible_and_defined(shipped):
    u = user(Full, shipped, "checkout", (201, {"id": "pay_1"}))
    assert u.defined == ("authorize", "capture", "refund", "payout")
    for _ in range(300):
        u.checkout_step()
    names = {s["name"].split(" ")[0] for s in u.client.sent}
    assert names == {"authorize", "capture", "refund", "payout"}
    first_capture = next(i for i, s in enumerate(u.client.sent) if s["name"].startswith("capture"))
    assert any(s["name"].startswith("authorize") for s in u.client.sent[:first_capture])
    shop = user(Shop, shipped, "checkout")
    for _ in range(50):
        shop.checkout_step()
    assert {s["name"].split(" ")[0] for s in shop.client.sent} == {"authorize"}  # the shop captures nothing


def test_a_refund_takes_part_or_the_rest_and_keeps_what_is_left(shipped):
    u = user(Full, shipped)
    payment = client.Payment("pay_1", "acme", 1000, "lt-1")
    u.captured.append(payment)
    u.s.spec.refund_full_share = 0.0  # always half
    u.mix = {"refund": 1}
    u.checkout_step()
    assert u.client.sent[0]["json"] == {"amount_minor": 500}
    assert [p.refundable_minor for p in u.captured] == [500]
    u.s.spec.refund_full_share = 1.0
    u.checkout_step()
    assert u.client.sent[1]["json"] == {"amount_minor": 500} and not u.captured


def test_mix_problems_say_what_a_class_cannot_run(shipped, catalog):
    s = client.LoadSettings(shipped, shipped.get("checkout"), 10, 10, 60, None)
    assert client.mix_problems(Full, s) == (None, [])
    assert client.mix_problems(Shop, s) == (None, ["capture", "refund", "payout"])

    class Nothing(client.PaymentClient):
        pass

    problem, _ = client.mix_problems(Nothing, s)
    assert problem.startswith("Nothing defines none of the mix's authorize, payout")
    storm = client.LoadSettings(shipped, shipped.get("retry_storm"), 10, 10, 60, None)
    assert client.mix_problems(Nothing, storm)[0] == ("scenario retry_storm retries authorizations: Nothing defines "
                                                      "no authorize(self, order)")


# ---------------------------------------------------------------- retries and the replay check


def test_a_retried_write_keeps_its_key_names_attempts_and_replays(shipped, no_sleep):
    u = user(Full, shipped, "retry_storm", (0, None), (503, {}), (201, {"id": "pay_1"}), (200, {"id": "pay_1"}))
    order = u.order("storm")
    payment = u.authorize(order)
    assert payment.id == "pay_1" and order.reference.startswith("storm")
    names = [s["name"] for s in u.client.sent]
    attempt = f"authorize [requested {order.provider}]{request_names.ATTEMPT}"
    assert names == [attempt, attempt, attempt, f"replay [requested {order.provider}]{request_names.ATTEMPT}"]
    assert len({s["headers"][client.IDEMPOTENCY_HEADER] for s in u.client.sent}) == 1  # one key throughout
    assert u.fired == [{"type": request_names.RETRIED, "name": f"authorize [requested {order.provider}]", "error": None},
                       {"type": request_names.CHECK, "name": request_names.DUPLICATE_CHECK, "error": None}]
    retry = shipped.get("retry_storm").retry
    assert len(no_sleep) == 2 and all(0 <= s <= retry.cap_s for s in no_sleep)


def test_a_replay_with_another_payment_is_a_failed_check(shipped):
    u = user(Full, shipped, "retry_storm", (201, {"id": "pay_1"}), (200, {"id": "pay_2"}))
    u.authorize(u.order())
    assert u.fired[-1] == {"type": request_names.CHECK, "name": request_names.DUPLICATE_CHECK,
                           "error": "one key, two payments: pay_1, pay_2"}


def test_a_key_whose_replays_all_fail_is_reported_unanswered(shipped):
    u = user(Full, shipped, "retry_storm", (201, {"id": "pay_1"}), (503, {}))
    u.authorize(u.order())
    retry = shipped.get("retry_storm").retry
    assert len(u.client.sent) == 1 + retry.max_attempts
    assert u.fired[-1] == {"type": request_names.CHECK, "name": request_names.REPLAY_UNANSWERED,
                           "error": f"no answer to {retry.max_attempts} replays of a key (last: 503)"}


def test_a_refused_write_is_not_retried(shipped):
    u = user(Full, shipped, "retry_storm", (422, {"type": "about:blank"}))
    assert u.authorize(u.order()) is None
    assert len(u.client.sent) == 1
    assert u.fired == [{"type": request_names.RETRIED, "name": u.client.sent[0]["name"].removesuffix(request_names.ATTEMPT),
                        "error": "422 after 1 attempts"}]


def test_the_storm_captures_what_it_authorized(shipped):
    u = user(Full, shipped, "retry_storm", (201, {"id": "pay_1"}))
    u.step()
    u.step()
    assert [s["path"] for s in u.client.sent if "replay" not in s["name"]] == ["/p", "/p/pay_1/capture"]
    shop = user(Shop, shipped, "retry_storm", (201, {"id": "c1"}))
    shop.step()
    shop.step()
    assert [s["path"] for s in shop.client.sent if "replay" not in s["name"]] == ["/charges", "/charges"]


def test_the_healthz_user_gets_the_health_path(shipped):
    u = user(Full, shipped, "healthz")
    u.step()
    assert [(s["method"], s["path"], s["name"]) for s in u.client.sent] == [("GET", "/healthz", "healthz")]


def test_a_refused_client_honours_retry_after_before_its_next_request(shipped):
    u = user(Shop, shipped, "checkout", (503, {"type": "x/overloaded"}, {"retry-after": "2"}), (201, {"id": "pay_2"}))
    before = time.perf_counter()
    u.authorize(u.order())
    refused = u.client.given[0]
    assert before + 1.9 < u.not_before < time.perf_counter() + 2.1
    assert refused.request_meta["request_type"] == "REFUSED" and refused.failed  # a refusal, and a failure
    assert [client.retry_after_s(s, v) for s, v in ((503, "1"), (429, "0.5"), (503, "999"), (503, "Wed, 21 Oct"),
                                                    (500, "3"), (503, None))] == [1.0, 0.5, 30.0, 30.0, 0.0, 0.0]
