"""The drills' baseline load (moneypath.drills.baseline_load): Retry-After honoured, a refusal marked; the team's own
API called through its request template, and hooks that read the environment (moneypath.drills.hooks):
placeholders keep their type, answers are read at dotted paths, money goes out in the currency's own exponent,
${NAME} comes from the environment."""

from __future__ import annotations

import httpx
import yaml

from moneypath.drills import hooks
from moneypath.drills.baseline_load import PaymentOutcome, dig, found, major_text, payment_values, render, request_args
from moneypath.formats.drill import Drill
from moneypath.formats.requests import Call
from tests.conftest import ROOT


def test_the_load_waits_retry_after_and_marks_a_refusal():
    import asyncio

    import httpx

    from moneypath.drills.baseline_load import RETRY_AFTER_CAP_S, Load, Mix, retry_after_s
    from moneypath.formats.requests import Requests

    assert retry_after_s(httpx.Response(503, headers={"Retry-After": "1"})) == 1.0
    assert retry_after_s(httpx.Response(503, headers={"Retry-After": "3600"})) == RETRY_AFTER_CAP_S
    assert retry_after_s(httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})) == \
        RETRY_AFTER_CAP_S
    assert retry_after_s(httpx.Response(503)) is None

    def run(answers: list[httpx.Response]) -> tuple[PaymentOutcome, list[float]]:
        requests = Requests.model_validate({"authorize": {"path": "/pay", "id": "id", "outcome": "state"},
                                            "approved": ["ok"]})
        load = Load("http://svc", {}, requests, Mix({"acme": 1}, {"EUR": 1}, {"card": 1}, 100, 100, 0), 1,
                    lambda m, c: str(m), attempts=2)
        waits: list[float] = []
        real_sleep = asyncio.sleep

        async def sleep(s):
            waits.append(s)
            await real_sleep(0)

        async def go():
            answers_left = iter(answers)
            transport = httpx.MockTransport(lambda request: next(answers_left))
            async with httpx.AsyncClient(base_url="http://svc", transport=transport) as client:
                asyncio.sleep = sleep
                try:
                    await load._payment(client, 0)
                finally:
                    asyncio.sleep = real_sleep
        asyncio.run(go())
        return load.outcomes[0], waits, load.stats

    overloaded = {"type": "https://moneypath.dev/problems/overloaded"}
    refusal = httpx.Response(503, headers={"Retry-After": "1"}, json=overloaded)
    outcome, waits, stats = run([refusal, refusal])
    assert outcome.refused and outcome.failed and outcome.payment_id is None and waits == [1.0]
    assert outcome.error == "authorize: 503 overloaded" and stats.refused == 1 and stats.failed == 1
    outcome, waits, stats = run([refusal, httpx.Response(201, json={"id": "p1", "state": "ok"})])
    assert not outcome.refused and not outcome.failed and outcome.payment_id == "p1" and stats.refused == 0
    outcome, waits, stats = run([httpx.Response(503, json={"type": "x/ledger-unavailable"})] * 2)
    assert not outcome.refused and outcome.failed and waits == [0.2]  # no Retry-After: its own backoff, not a refusal


def test_a_placeholder_alone_keeps_its_type_and_inside_text_is_text():
    values = {"amount_minor": 6235, "currency": "KWD", "payment_id": "ch_1"}
    body = {"amount": "{amount_minor}", "memo": "{amount_minor} {currency}", "items": [{"c": "{currency}"}],
            "fixed": 3, "unknown": "{nope}"}
    assert render(body, values) == {"amount": 6235, "memo": "6235 KWD", "items": [{"c": "KWD"}], "fixed": 3,
                                    "unknown": "{nope}"}


def test_a_call_renders_path_headers_and_body():
    call = Call.model_validate({"method": "POST", "path": "/charges/{payment_id}/capture",
                                "headers": {"Idempotency-Key": "{idempotency_key}"}, "json": {"amount": "{amount_minor}"}})
    args = request_args(call, {"payment_id": "ch_9", "idempotency_key": "k1", "amount_minor": 500})
    assert args == {"method": "POST", "url": "/charges/ch_9/capture", "headers": {"Idempotency-Key": "k1"},
                    "json": {"amount": 500}}


def test_answers_are_read_at_dotted_paths():
    answer = {"data": {"charge": {"id": "ch_1", "status": "succeeded"}}, "events": [{"type": "created"}]}
    assert dig(answer, "data.charge.id") == "ch_1"
    assert dig(answer, "events.0.type") == "created"
    assert not found(dig(answer, "data.charge.state"))
    assert not found(dig(answer, "events.3.type"))
    assert not found(dig(None, "id"))


def test_amount_major_is_exact_in_each_currency_exponent(foreign):
    major = major_text(foreign)
    assert major(6235, "JPY") == "6235" and major(6235, "KWD") == "6.235"
    values = payment_values("drill-x", 7, "komoju", "KWD", 6235, "konbini", "ab" * 16, major)
    assert values["amount_major"] == "6.235" and values["reference"] == "drill-x-idababababababn7"


def test_hooks_read_the_environment_and_say_what_is_missing(catalog):
    doc = yaml.safe_load((ROOT / "runbooks/drills/provider-partial-outage.yaml").read_text())
    doc["load"]["requests"] = yaml.safe_load((ROOT / "runbooks/drills/requests/reference.yaml").read_text())
    doc["fault"] = {"where": "hook", "name": "flag", "duration": "30s",
                    "set": {"url": "${FLAGS_URL}/flags/slow", "headers": {"authorization": "Bearer ${FLAGS_TOKEN}"}},
                    "clear": {"method": "DELETE", "url": "${FLAGS_URL}/flags/slow"}}
    drill = Drill.model_validate(doc)
    assert hooks.missing_env(drill, {"FLAGS_URL": "http://127.0.0.1:9"}) == ["FLAGS_TOKEN"]
    assert hooks.missing_env(drill, {"FLAGS_URL": "u", "FLAGS_TOKEN": "t"}) == []
    env = {"FLAGS_URL": "http://127.0.0.1:9"}
    assert hooks.expand({"u": "${FLAGS_URL}/x", "l": ["${NOPE}"]}, env) == {"u": "http://127.0.0.1:9/x", "l": ["${NOPE}"]}
