"""Provider webhooks: settling ambiguous captures and refunds, card numbers stored redacted, driven through the HTTP
API with the provider simulator in-process; the background jobs are run by hand (run_once)."""

from __future__ import annotations

import hashlib
import time

import pytest
from sqlalchemy import select

from moneypath.catalog.conventions import Key
from moneypath.reference.refservice import ledger
from moneypath.reference.refservice.db import payments
from tests.support.refservice import ACME_HOOK, authorize, call, captured_payment, post_raw, sample, set_fault


def test_capture_webhook_books_a_capture_whose_call_timed_out(world):
    import json as jsonlib

    from moneypath.reference.signing import HEADER, sign

    app, sim, mp = world
    auth = None
    for i in range(10):
        auth = authorize(app, f"amb-{i}").json()
        if auth["state"] == "authorized":
            break
    set_fault(sim, "timeout_late_success", {"provider": "acme", "rate": 1.0, "delay_s": 1})
    timed_out = call(app, "POST", f"/v1/payments/{auth['id']}/capture", "amb-cap")
    assert timed_out.status_code == 504
    event = jsonlib.dumps({"provider": "acme", "event": "capture.settled", "provider_ref": auth["provider_ref"],
                           "reference": auth["reference"], "amount_minor": 2000, "currency": "EUR",
                           "status": "CAPTURED", "occurred_at": time.time()}).encode()
    delivered = post_raw(app, "/v1/webhooks/acme", event, {HEADER: sign(ACME_HOOK, event)})
    assert delivered.json() == {"accepted": True, "duplicate": False, "booked": True}
    retried = call(app, "POST", f"/v1/payments/{auth['id']}/capture", "amb-cap")  # the client's retry
    assert retried.status_code == 200 and retried.json()["state"] == "captured"
    with app.state.engine.connect() as conn:
        assert ledger.transactions_for(conn, auth["id"]) == ["capture"]
        assert conn.execute(select(payments.c.captured_at).where(payments.c.id == auth["id"])).scalar_one()


@pytest.mark.parametrize("reference", ["card 4111111111111111", "ord4111111111111111", "x4111 1111 1111 1111"])
def test_a_signed_webhook_holding_a_card_number_is_stored_redacted_and_counted(world, reference):
    import json as jsonlib

    from moneypath.catalog.pan import REDACTED, contains_card_number, mentions_card_number
    from moneypath.reference.refservice.db import webhook_events
    from moneypath.reference.signing import HEADER, sign

    app, _, mp = world
    event = jsonlib.dumps({"provider": "acme", "event": "refund.settled", "provider_ref": "acme_ref_1",
                           "reference": reference, "card": {"pan": 4111111111111111, "last4": "1111",
                                                            "as_float": 5555555555554444.0},
                           # whole seconds: a fractional timestamp's 17 digits can pass for a card by chance
                           "amount_minor": 2000, "currency": "EUR", "occurred_at": int(time.time())}).encode()
    hooked = post_raw(app, "/v1/webhooks/acme", event, {HEADER: sign(ACME_HOOK, event)})
    assert hooked.status_code == 200 and hooked.json()["accepted"], hooked.text
    with app.state.engine.connect() as conn:
        (stored,) = conn.execute(select(webhook_events.c.body)).scalars().all()
    assert not mentions_card_number(stored) and not contains_card_number(stored) and "4111" not in stored
    kept = jsonlib.loads(stored)
    assert kept["reference"] == reference[:reference.index("4")] + REDACTED
    assert kept["card"] == {"pan": REDACTED, "last4": "1111", "as_float": REDACTED} and kept["amount_minor"] == 2000
    assert sample(mp, mp.catalog.metric(Key.CARD_NUMBERS_TOTAL), source="webhook", action="redacted") == 1
    # the provider's own id is matched as sent, even where its digits pass for a card (a hex id, ~0.2 %), but
    # stored as its digest: no card-like number in the column either, and a second delivery is still a duplicate
    odd_ref = "acme_auth_4111111111111111ab"
    odd = jsonlib.dumps({"provider": "acme", "event": "refund.settled", "provider_ref": odd_ref}).encode()
    assert post_raw(app, "/v1/webhooks/acme", odd, {HEADER: sign(ACME_HOOK, odd)}).json()["accepted"]
    with app.state.engine.connect() as conn:
        refs = conn.execute(select(webhook_events.c.provider_ref)).scalars().all()
    assert "sha256:" + hashlib.sha256(odd_ref.encode()).hexdigest() in refs
    assert not any(mentions_card_number(ref) or contains_card_number(ref) for ref in refs), refs
    mp_redacted = sample(mp, mp.catalog.metric(Key.CARD_NUMBERS_TOTAL), source="webhook", action="redacted")
    assert mp_redacted == 2
    # an ordinary event is stored as sent, and not counted
    plain = jsonlib.dumps({"provider": "acme", "event": "refund.settled", "provider_ref": "acme_ref_2",
                           "reference": "ORD-112-1234567-1234567", "occurred_at": 1795547276.2795289,
                           "occurred_at_us": 1795547276279528}).encode()
    assert post_raw(app, "/v1/webhooks/acme", plain, {HEADER: sign(ACME_HOOK, plain)}).status_code == 200
    with app.state.engine.connect() as conn:
        bodies = conn.execute(select(webhook_events.c.body).where(webhook_events.c.provider_ref == "acme_ref_2"))
        assert bodies.scalar_one() == plain.decode()
    assert sample(mp, mp.catalog.metric(Key.CARD_NUMBERS_TOTAL), source="webhook", action="redacted") == 2
    again = post_raw(app, "/v1/webhooks/acme", odd, {HEADER: sign(ACME_HOOK, odd)}).json()  # digest still unique
    assert again["duplicate"] and not again["accepted"]


def test_a_webhook_card_number_of_any_first_digit_is_stored_redacted_and_counted(world):
    # 1 (UATP), 7, 8 and 9 lead no 2-6 network's cards; a Luhn-valid 13-19 digits is stored redacted all the same
    import json as jsonlib

    from moneypath.catalog.pan import REDACTED, contains_card_number, mentions_card_number
    from moneypath.reference.refservice.db import webhook_events
    from moneypath.reference.signing import HEADER, sign

    app, _, mp = world
    cards = {"reference": "card 1234567812345670", "order": "ord7992739871300008", "note": "INV800000000000002",
             "pan": 9000000000000001, "uatp": 122000000000003.0}
    # a fractional timestamp's digits are not one number (1795547276.2795284 would pass Luhn as 17 digits)
    plain = {"occurred_at": 1795547276.2795284, "amount_minor": 2000, "currency": "EUR"}
    event = jsonlib.dumps({"provider": "acme", "event": "refund.settled", "provider_ref": "acme_ref_9", **cards,
                           **plain}).encode()
    hooked = post_raw(app, "/v1/webhooks/acme", event, {HEADER: sign(ACME_HOOK, event)})
    assert hooked.status_code == 200 and hooked.json()["accepted"], hooked.text
    with app.state.engine.connect() as conn:
        (stored,) = conn.execute(select(webhook_events.c.body)).scalars().all()
    kept = jsonlib.loads(stored)
    assert kept["reference"] == f"card {REDACTED}" and kept["order"] == f"ord{REDACTED}"
    assert kept["note"] == f"INV{REDACTED}" and kept["pan"] == kept["uatp"] == REDACTED
    assert {k: kept[k] for k in plain} == plain
    assert not mentions_card_number(stored.replace("1795547276.2795284", "")) and not contains_card_number(stored)
    assert sample(mp, mp.catalog.metric(Key.CARD_NUMBERS_TOTAL), source="webhook", action="redacted") == 1


def test_a_refund_whose_call_timed_out_is_booked_once_by_the_clients_retry(world):
    """Refund webhooks are stored, not booked: the retry with the same key books it, and the
    provider (answering that key once) does not refund twice."""
    app, sim, _ = world
    payment = captured_payment(app, "amb-refund")
    set_fault(sim, "timeout_late_success", {"provider": "acme", "rate": 1.0, "delay_s": 1})
    timed_out = call(app, "POST", f"/v1/payments/{payment['id']}/refund", "amb-ref", {"amount_minor": 700})
    assert timed_out.status_code == 504
    with app.state.engine.connect() as conn:
        assert ledger.transactions_for(conn, payment["id"]) == ["capture"]
    set_fault(sim, "timeout_late_success", {"provider": "acme", "rate": 0.0, "delay_s": 1})
    retried = call(app, "POST", f"/v1/payments/{payment['id']}/refund", "amb-ref", {"amount_minor": 700})
    assert retried.status_code == 200 and retried.json()["refunded_minor"] == 700
    assert sim.state.providers["acme"].charges[payment["provider_ref"]].refunded_minor == 700
    with app.state.engine.connect() as conn:
        assert ledger.transactions_for(conn, payment["id"]) == ["capture", "refund"]
