"""A team's locustfile, without Locust: the body of PaymentUser (moneypath.loadtest.client) against a fake
client, the scenario's fault calls, fault vocabularies by `at:`, the feature-off gates and the CLI's
--locustfile, --no-auth and --faultproxy paths. Locust itself is never imported here."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from moneypath import cli
from moneypath.catalog.pan import mentions_card_number
from moneypath.formats import scenarios
from moneypath.loadtest import (
    client,
    fault_calls,
    gates,
    locust_processes,
    locust_run,
    pacing,
    request_names,
    stats,
    targets,
)
from moneypath.protocol.correlation_header import HEADER
from tests.conftest import CATALOG_PATH, ROOT, SHIPPED_SCENARIOS

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
    u.begin(client.Settings(sfile, sfile.get(scenario), 10, 10, 60, token))
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
    s = client.Settings(shipped, shipped.get("checkout"), 10, 10, 60, None)
    assert client.mix_problems(Full, s) == (None, [])
    assert client.mix_problems(Shop, s) == (None, ["capture", "refund", "payout"])

    class Nothing(client.PaymentClient):
        pass

    problem, _ = client.mix_problems(Nothing, s)
    assert problem.startswith("Nothing defines none of the mix's authorize, payout")
    storm = client.Settings(shipped, shipped.get("retry_storm"), 10, 10, 60, None)
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


# ---------------------------------------------------------------- faults: calls and vocabularies


def test_fault_calls_go_to_the_api_at_their_at_and_end_after_the_run():
    fs = [scenarios.Fault(at="faultproxy", name="latency", params={"provider": "komoju", "extra_ms": 700}),
          scenarios.Fault(at="providersim", name="error_rate", params={"provider": "acme", "rate": 1, "duration_s": 5}),
          scenarios.Fault(at="service", name="consumer_failure", params={"queue": "webhooks", "rate": 0.5})]
    calls = fault_calls.calls(fs, {"faultproxy": "http://p:1/", "providersim": "http://s:2", "service": "http://h:3"}, 30)
    assert calls == [
        fault_calls.FaultCall("http://p:1/admin/faults/latency", {"duration_s": 90.0, "provider": "komoju",
                                                               "extra_ms": 700}, {"provider": "komoju"}),
        fault_calls.FaultCall("http://s:2/admin/faults/error_rate", {"duration_s": 5, "provider": "acme", "rate": 1},
                         {"provider": "acme"}),
        fault_calls.FaultCall("http://h:3/admin/faults/consumer_failure", {"duration_s": 90.0, "queue": "webhooks",
                                                                       "rate": 0.5}, {"target": "webhooks"})]
    with pytest.raises(fault_calls.MissingBase, match="scenario slow sets a faultproxy fault: pass --faultproxy URL"):
        fault_calls.calls(fs[:1], {"faultproxy": None}, 30, "slow")


@pytest.fixture(scope="module")
def foreign():
    from moneypath.catalog import load_catalog

    return load_catalog(FOREIGN / "moneypath.yaml")


def test_the_foreign_scenarios_slow_their_providers_through_the_fault_proxy(foreign):
    sfile = scenarios.load(FOREIGN / "scenarios.yaml", foreign)
    assert {f.at for s in sfile.scenarios.values() for f in s.faults} == {"faultproxy"}
    slow = sfile.get("komoju_slow").faults[0]
    assert (slow.name, slow.params["provider"]) == ("latency", "komoju")


def test_the_shipped_scenarios_faults_are_valid_against_the_simulator(shipped):
    assert {f.at for s in shipped.scenarios.values() for f in s.faults} == {"providersim"}


# ---------------------------------------------------------------- gates of features that are off


def test_gates_of_features_that_are_off_are_skipped_and_named(catalog):
    from dataclasses import replace

    off = replace(gates.thresholds(catalog, 30), features_off=frozenset({"idempotency", "reconciliation"}))
    sfile = scenarios.load(SHIPPED_SCENARIOS)
    summary = SimpleNamespace(authorize_p99_ms=100.0, failure_ratio=0.0, judged_failures=0, judged_requests=100,
                              duplicates_seen=1, duplicate_checks=10, keys_completed=10, replays_unanswered=0)
    prom = gates.PromObservations(p99_s=0.1, error_ratio=0.0, duplicate_charges=0, ledger_imbalance_max_abs=0,
                                  caught_up_after_s=1)
    result = gates.evaluate(summary, prom, off, sfile.get("retry_storm"))
    by = {g.name: g for g in result}
    assert (by["idempotent_replays"].status, by["idempotent_replays"].reason) == ("skip", "feature idempotency is off")
    assert by["reconciliation"].reason == "feature reconciliation is off"
    assert gates.breaches(result) == []  # a key answered twice is no breach where the service promises no idempotency
    assert gates.feature_skips([g.to_dict() for g in result]) == [
        "one payment per idempotency key (feature idempotency is off)",
        "reconciliation caught up (feature reconciliation is off)"]
    on = gates.evaluate(summary, prom, gates.thresholds(catalog, 30), sfile.get("retry_storm"))
    assert gates.breaches(on) == ["1 idempotency keys answered with two different payments (client replay check)"]


# ---------------------------------------------------------------- the CLI: --locustfile, --no-auth, --faultproxy


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "none.py", "{path}: locustfile not found"),
    (lambda d: d, "{path}: locustfile not found"),
    (lambda d: (d / "load.txt").write_text("x") and d / "load.txt", "{path}: a locustfile is a Python file (.py)"),
    (lambda d: (d / "load.py").write_text("x") and d / "load.py",
     "{dir}/scenarios.yaml: scenario file not found"),
])
def test_a_bad_locustfile_is_one_line_and_exit_2(tmp_path, capsys, make, message):
    path = make(tmp_path)
    code = cli.main(["loadtest", "checkout", "--locustfile", str(path), "--catalog", str(CATALOG_PATH),
                     "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == f"moneypath: {message.format(path=path, dir=tmp_path)}\n"


@pytest.mark.parametrize("flag", [["--no-auth"], ["--faultproxy", "http://127.0.0.1:9"]])
def test_no_auth_and_faultproxy_go_with_host(tmp_path, capsys, monkeypatch, flag):
    monkeypatch.setattr(targets, "start_stack", lambda *_a, **_k: pytest.fail("a stack started"))
    code = cli.main(["loadtest", "checkout", "--catalog", str(CATALOG_PATH), "--state-dir", str(tmp_path / "none"),
                     "--out", str(tmp_path / "out"), *flag])
    assert code == 2
    assert capsys.readouterr().err == ("moneypath: --prometheus, --providersim, --faultproxy, --no-auth and --token "
                                       "go with --host\n")


def test_no_auth_needs_no_token_and_sends_none(monkeypatch, tmp_path):
    target = targets.existing_target(None, "http://127.0.0.1:9/", None, None, env={}, auth=False)
    assert (target.host, target.token, target.admin_token) == ("http://127.0.0.1:9", None, None)
    target = targets.existing_target(None, "http://127.0.0.1:9", None, None, env={"MONEYPATH_TOKEN": "t",
                                                                               "MONEYPATH_TOKEN_SECRET": "s"},
                                    faultproxy="http://127.0.0.1:8", auth=False)
    assert target.token is None and target.admin_token and target.faultproxy == "http://127.0.0.1:8"
    with pytest.raises(locust_run.LoadTestError, match="or --no-auth when the service takes none"):
        targets.existing_target(None, "http://127.0.0.1:9", None, None, env={})
    started = []
    monkeypatch.setattr(locust_processes, "_spawn", lambda argv, log, env: started.append((argv, env)) or SimpleNamespace())
    monkeypatch.setenv("MONEYPATH_TOKEN", "leftover")
    spec = locust_run.RunSpec("checkout")
    locust_processes.start_locust(spec, target, tmp_path, 9, 10, 10, 5, SHIPPED_SCENARIOS, Path("x.py"))
    argv, env = started[0]
    assert not [a for a in argv if a in ("--no-auth", "--faultproxy", "--scenario")]  # never Locust's argv
    assert env["MONEYPATH_NO_AUTH"] == "true" and env["MONEYPATH_FAULTPROXY"] == "http://127.0.0.1:8"
    assert "MONEYPATH_TOKEN" not in env and env["MONEYPATH_ADMIN_TOKEN"] == target.admin_token


def test_a_faultproxy_scenario_without_faultproxy_is_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "s")
    monkeypatch.setattr(targets, "close_target", lambda target: None)
    monkeypatch.setattr(locust_run, "run", lambda *_: pytest.fail("the run started"))
    code = cli.main(["loadtest", "komoju_slow", "--catalog", str(FOREIGN / "moneypath.yaml"), "--locustfile",
                     str(FOREIGN / "locustfile.py"), "--host", "http://127.0.0.1:9", "--no-auth", "--no-prometheus",
                     "--state-dir", str(tmp_path / "none"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert capsys.readouterr().err == "moneypath: scenario komoju_slow sets a faultproxy fault: pass --faultproxy URL\n"
    assert not (tmp_path / "out").exists() or not [p for p in (tmp_path / "out").iterdir()]


def test_the_help_documents_the_locustfile_contract(capsys):
    with pytest.raises(SystemExit):
        cli.main(["loadtest", "--help"])
    out = capsys.readouterr().out
    for needle in ("your own locustfile (--locustfile FILE):", "moneypath.loadtest.user import PaymentUser",
                   '"<action> [<provider>]"', "$MONEYPATH_TOKEN", "--no-auth", "--faultproxy URL", "RETRIED", "CHECK"):
        assert needle in out, needle



class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _send_times(phases: list[float], requests: int, took_s: float, pace: float = 1.0) -> list[list[float]]:
    """When each user sends, users created at the same instant, each request taking `took_s`."""
    clock, times = FakeClock(), []
    for phase in phases:
        clock.now = 100.0
        pacer = pacing.Pacer(pace, clock, uniform=lambda lo, hi, p=phase: lo + p * (hi - lo))
        sent = []
        clock.now += pacer.first_wait()
        for _ in range(requests):
            sent.append(round(clock.now, 6))
            clock.now += took_s
            clock.now += pacer.next_wait()
        times.append(sent)
    return times


def test_users_spawned_together_keep_their_own_phase():
    # Locust's constant_throughput took the start phase back at the first wait: 60 users spawned
    # in one tick then sent within the same 0.1 s of every second and queued in the service.
    phases = [i / 10 for i in range(10)]
    times = _send_times(phases, requests=5, took_s=0.06)
    for phase, sent in zip(phases, times):
        assert [round(t - 100.0, 6) for t in sent] == [round(phase + k, 6) for k in range(5)]
    slots_of_the_fifth_request = {round(sent[4] % 1, 3) for sent in times}
    assert len(slots_of_the_fifth_request) == 10  # still spread over the second


def test_a_user_behind_its_pace_starts_a_new_grid_instead_of_a_burst():
    (sent,) = _send_times([0.5], requests=4, took_s=2.5)  # every request slower than the 1 s interval
    gaps = [round(b - a, 6) for a, b in zip(sent, sent[1:])]
    assert gaps == [2.5, 2.5, 2.5]  # back to back as fast as answers come, never two at once


def test_a_pace_must_be_positive():
    with pytest.raises(ValueError, match="pace must be positive"):
        pacing.Pacer(0)


def test_a_refused_client_honours_retry_after_before_its_next_request(shipped):
    u = user(Shop, shipped, "checkout", (503, {"type": "x/overloaded"}, {"retry-after": "2"}), (201, {"id": "pay_2"}))
    before = time.perf_counter()
    u.authorize(u.order())
    refused = u.client.given[0]
    assert before + 1.9 < u.not_before < time.perf_counter() + 2.1
    assert refused.request_meta["request_type"] == "REFUSED" and refused.failed  # a refusal, and a failure
    assert [client.retry_after_s(s, v) for s, v in ((503, "1"), (429, "0.5"), (503, "999"), (503, "Wed, 21 Oct"),
                                                    (500, "3"), (503, None))] == [1.0, 0.5, 30.0, 30.0, 0.0, 0.0]
