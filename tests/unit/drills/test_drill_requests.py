"""A drill's load calls the team's own API through its request template (moneypath.drills.baseline_load), and its
hooks read the environment (moneypath.drills.hooks): placeholders keep their type, answers are read at
dotted paths, money goes out in the currency's own exponent, ${NAME} comes from the environment."""

from __future__ import annotations

import yaml

from moneypath.drills import hooks
from moneypath.drills.baseline_load import dig, found, major_text, payment_values, render, request_args
from moneypath.formats.drill import Drill
from moneypath.formats.requests import Call
from tests.conftest import ROOT


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
