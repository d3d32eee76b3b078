"""Ledger writes: failures, races between clients, refunds that would overrun, driven through the HTTP API with the
provider simulator in-process; the background jobs are run by hand (run_once)."""

from __future__ import annotations

import pytest

from moneypath.reference.refservice import ledger
from tests.support.refservice import ADMIN, WRITE, authorized_payment, call, captured_payment, client_for, sample


def test_a_failed_ledger_write_acknowledges_nothing_and_the_retry_books_once(world):
    app, _, mp = world
    payment = captured_payment(app, "lw")
    call(app, "PUT", "/admin/faults/ledger_write_failure", json={"rate": 1}, headers=ADMIN)
    failed = call(app, "POST", f"/v1/payments/{payment['id']}/refund", "lw-refund", {"amount_minor": 500})
    assert failed.status_code == 503 and failed.json()["type"].endswith("/ledger-unavailable")
    with app.state.engine.connect() as conn:
        assert ledger.transactions_for(conn, payment["id"]) == ["capture"]
    assert sample(mp, "moneypath_ledger_writes_total", outcome="failed") == 1
    call(app, "DELETE", "/admin/faults/ledger_write_failure", headers=ADMIN)
    retried = call(app, "POST", f"/v1/payments/{payment['id']}/refund", "lw-refund", {"amount_minor": 500})
    assert retried.status_code == 200 and retried.json()["refunded_minor"] == 500
    with app.state.engine.connect() as conn:
        assert ledger.transactions_for(conn, payment["id"]) == ["capture", "refund"]
        assert set(ledger.imbalance(conn).values()) == {0}


def test_concurrent_refunds_never_refund_more_than_was_captured(world):
    app, _, _ = world
    payment = captured_payment(app, "race", amount=1000)
    pid = payment["id"]
    from moneypath.reference.refservice import payment_state as payment_rows

    with app.state.engine.begin() as conn:  # a refund the service's read did not see yet
        row = payment_rows.get(conn, pid, "merchant_1")
        payment_rows.mark_refunded(conn, row, 800, "REFUNDED")
    with pytest.raises(payment_rows.OverRefundError), app.state.engine.begin() as conn:
        payment_rows.mark_refunded(conn, row, 800, "REFUNDED")  # stale row says 1000 left; only 200 are
    with app.state.engine.connect() as conn:
        assert ledger.transactions_for(conn, pid) == ["capture", "refund"]
        assert payment_rows.get(conn, pid, "merchant_1")["refunded_minor"] == 800


def test_client_races_are_ledger_write_conflicts_not_failures(world):
    from moneypath.reference.refservice import payment_state as payment_rows
    from moneypath.reference.refservice.db import idempotency_keys

    app, _, mp = world
    payment = captured_payment(app, "conflict", amount=1000)
    adapter = app.state.adapters["acme"]
    original_refund, original_capture = adapter.refund, adapter.capture

    async def refund_racing_another(*args):  # another refund books the rest while ours is at the provider
        adapter.refund = original_refund
        with app.state.engine.begin() as conn:
            payment_rows.mark_refunded(conn, payment_rows.get(conn, payment["id"], "merchant_1"), 800, "REFUNDED")
        return await original_refund(*args)

    adapter.refund = refund_racing_another
    before = {o: sample(mp, "moneypath_ledger_writes_total", outcome=o) for o in ("committed", "failed", "conflict")}
    refused = call(app, "POST", f"/v1/payments/{payment['id']}/refund", "conflict-mine", {"amount_minor": 600})
    assert refused.status_code == 409 and refused.json()["type"].endswith("/payment-not-refundable")

    auth = authorized_payment(app, "taken")

    async def capture_outliving_its_claim(*args):  # our lock expires and the client's retry takes over
        adapter.capture = original_capture
        with app.state.engine.begin() as conn:
            conn.execute(idempotency_keys.update().where(idempotency_keys.c.key == "taken-cap").values(locked_until=0))
        async with await client_for(app) as c:
            retry = await c.post(f"/v1/payments/{auth['id']}/capture", headers={**WRITE, "idempotency-key": "taken-cap"})
        assert retry.status_code == 200
        return await original_capture(*args)

    adapter.capture = capture_outliving_its_claim
    stale = call(app, "POST", f"/v1/payments/{auth['id']}/capture", "taken-cap")
    assert stale.status_code == 409 and stale.json()["type"].endswith("/idempotency-key-in-use")
    assert call(app, "POST", f"/v1/payments/{auth['id']}/capture", "taken-cap").json()["state"] == "captured"
    after = {o: sample(mp, "moneypath_ledger_writes_total", outcome=o) for o in ("committed", "failed", "conflict")}
    assert after == {"committed": before["committed"] + 2, "failed": before["failed"],
                     "conflict": before["conflict"] + 2}
    with app.state.engine.connect() as conn:
        assert ledger.transactions_for(conn, auth["id"]) == ["capture"]
        assert ledger.transactions_for(conn, payment["id"]) == ["capture", "refund"]
