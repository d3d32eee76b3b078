"""The audit trail through the service's API: who changed a payment (token subject and scope, provider,
background job), under which correlation id; the background check sets the catalog's signal, and the
drills' audit_tamper fault edits a past event that it must catch."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from moneypath.protocol.audit.chain import GENESIS, event_hash, verify_database
from moneypath.reference.refservice.audit import trail as audit
from moneypath.reference.refservice.audit.chain_check import TAMPER
from moneypath.reference.refservice.db import audit_events, audit_head
from moneypath.reference.signing import HEADER, sign
from tests.support.refservice import (
    ACME_HOOK,
    ADMIN,
    authorize,
    authorized_payment,
    call,
    capture_event,
    captured_payment,
    flush,
    post_raw,
    sample,
)
from tests.support.refservice import WRITE as WRITE_HEADERS

CORRELATION = {"x-correlation-id": "corr-audit-0001"}


def events(app, payment_id: str) -> list[dict]:
    with app.state.engine.connect() as conn:
        return audit.events_for(conn, payment_id)


def test_api_changes_record_the_token_subject_scope_and_correlation_id(world):  # noqa: F811
    app, _, _ = world
    auth = None
    for i in range(10):
        auth = call(app, "POST", "/v1/payments/authorize", f"aud-{i}", {"amount_minor": 3000, "currency": "EUR",
                                                                         "provider": "acme", "reference": f"aud-{i}"},
                    headers={**CORRELATION, **WRITE_HEADERS}).json()
        if auth["state"] == "authorized":
            break
    captured = call(app, "POST", f"/v1/payments/{auth['id']}/capture", "aud-cap", headers={**WRITE_HEADERS})
    refunded = call(app, "POST", f"/v1/payments/{auth['id']}/refund", "aud-ref", {"amount_minor": 3000})
    assert captured.status_code == 200 and refunded.status_code == 200, refunded.text
    trail = events(app, auth["id"])
    assert [e["action"] for e in trail] == ["authorize", "capture", "refund"]
    assert {(e["actor"], e["scope"]) for e in trail} == {("merchant_1", "payments:write")}
    assert trail[0]["correlation_id"] == "corr-audit-0001"  # the caller's id; the others got fresh ones
    assert trail[1]["correlation_id"] and trail[1]["correlation_id"] != trail[0]["correlation_id"]
    assert json.loads(trail[2]["after"])["state"] == "refunded"
    with app.state.engine.connect() as conn:
        assert verify_database(conn).intact


def test_a_replayed_request_appends_nothing(world):  # noqa: F811
    app, _, _ = world
    first = authorize(app, "aud-replay")
    again = authorize(app, "aud-replay")
    assert again.headers.get("idempotent-replayed") == "true"
    assert len(events(app, first.json()["id"])) == 1


def test_a_webhook_booked_capture_names_the_provider(world):  # noqa: F811
    app, _, _ = world
    auth = authorized_payment(app, "aud-hook")
    event = capture_event(auth)
    assert post_raw(app, "/v1/webhooks/acme", event, {HEADER: sign(ACME_HOOK, event)}).json()["booked"]
    capture = events(app, auth["id"])[-1]
    assert (capture["action"], capture["actor"], capture["scope"]) == ("capture", "provider:acme", "")


def test_reconciliation_records_the_match_as_the_reconciliation_job(world):  # noqa: F811
    app, sim, _ = world
    payment = captured_payment(app, "aud-rec", provider="globex")
    flush(sim)
    app.state.reconciler.run_once()
    last = events(app, payment["id"])[-1]
    assert (last["action"], last["actor"]) == ("reconcile", "system:reconciliation")
    assert json.loads(last["before"]) == {"reconciled_at": None}
    assert json.loads(last["after"])["match"] == "matched"


def test_the_background_check_sets_the_signal_and_catches_the_drills_tamper(world):  # noqa: F811
    app, _, mp = world
    for i in range(3):
        captured_payment(app, f"aud-chk-{i}")
    check = app.state.services.audit
    assert check.run_once().intact
    assert sample(mp, "moneypath_audit_chain_broken") == 0
    put = call(app, "PUT", f"/admin/faults/{TAMPER}", json={"duration_s": 60}, headers=ADMIN)
    assert put.status_code == 200, put.text
    broken = check.run_once()
    assert not broken.intact and "edited" in broken.reason
    assert sample(mp, "moneypath_audit_chain_broken") == 1
    with app.state.engine.connect() as conn:  # the edit is in the database, where the CLI would find it too
        assert verify_database(conn).broken_seq == broken.broken_seq
        assert conn.execute(select(audit_events.c.after).where(audit_events.c.seq == broken.broken_seq)).scalar()
    assert call(app, "DELETE", f"/admin/faults/{TAMPER}", headers=ADMIN).status_code == 200
    assert check.run_once().intact  # mitigation: the row restored
    assert sample(mp, "moneypath_audit_chain_broken") == 0


def test_the_check_catches_a_chain_rehashed_after_its_last_walk(world):  # noqa: F811
    app, _, mp = world
    captured_payment(app, "aud-anchor")
    check = app.state.services.audit
    assert check.run_once().intact
    with app.state.engine.begin() as conn:  # every event rewritten consistently, head included
        prev = GENESIS
        for row in [dict(r) for r in conn.execute(select(audit_events).order_by(audit_events.c.seq)).mappings()]:
            row["actor"], row["prev_hash"] = "forger", prev
            prev = event_hash(prev, row)
            conn.execute(update(audit_events).where(audit_events.c.seq == row["seq"])
                         .values(actor="forger", prev_hash=row["prev_hash"], hash=prev))
        conn.execute(update(audit_head).values(hash=prev))
    assert not check.run_once().intact
    assert sample(mp, "moneypath_audit_chain_broken") == 1
