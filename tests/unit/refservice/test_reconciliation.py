"""Reconciliation of the providers' settlement files against the ledger, driven through the HTTP API with the provider
simulator in-process; the background jobs are run by hand (run_once)."""

from __future__ import annotations

import time

from sqlalchemy import select

from moneypath.reference.refservice.db import reconciliation_breaks
from tests.support.refservice import authorized_payment, call, captured_payment, flush, sample, set_fault


def breaks(app) -> list[tuple[str, str]]:
    with app.state.engine.connect() as conn:
        return sorted(conn.execute(select(reconciliation_breaks.c.provider, reconciliation_breaks.c.kind)).all())


def test_settlements_that_agree_reconcile_with_no_breaks(world):
    app, sim, mp = world
    for i in range(3):
        captured_payment(app, f"ok{i}", provider="globex")
    rec = app.state.reconciler
    before = rec.run_once()
    assert before["matched"] == 0
    assert sample(mp, "moneypath_reconciliation_oldest_unreconciled_seconds", provider="globex") > 0
    flush(sim)
    assert rec.run_once() == {"files": 1, "lines": 3, "matched": 3}
    assert breaks(app) == []
    assert sample(mp, "moneypath_reconciliation_oldest_unreconciled_seconds", provider="globex") == 0
    assert sample(mp, "moneypath_reconciliation_last_success_timestamp_seconds", provider="acme") > 0
    assert rec.run_once()["files"] == 0  # imported once


def test_a_run_matches_in_short_transactions_and_leaves_what_exceeds_its_rounds_for_the_next(world):
    app, sim, mp = world
    for i in range(5):
        captured_payment(app, f"batch{i}", provider="acme")
    flush(sim)
    rec = app.state.reconciler
    rec.batch, rec.rounds = 2, 2  # two transactions of two lines per run
    assert rec.run_once()["matched"] == 4
    assert sample(mp, "moneypath_reconciliation_oldest_unreconciled_seconds", provider="acme") > 0
    assert rec.run_once()["matched"] == 1
    assert sample(mp, "moneypath_reconciliation_oldest_unreconciled_seconds", provider="acme") == 0
    assert breaks(app) == []


def test_no_statement_of_the_money_path_or_its_background_jobs_scans_a_table_that_grows(world):
    """What runs per request and per background run reaches rows through an index, so its cost does not grow
    with the ledger's history (reconciliation looked lines' payments up by provider_ref alone, past the
    index on (provider, provider_ref), and read every payment ever booked, each run). Every statement SQLite
    runs, prepared ones included (they bypass SQLAlchemy's events), through the driver's trace callback."""
    from sqlalchemy import event

    app, sim, _ = world
    services, ran = app.state.services, []
    engines = {id(e): e for e in (services.engine, services.claims, services.reader)}.values()

    def trace(dbapi_connection, record):
        dbapi_connection.set_trace_callback(ran.append)

    for engine in engines:
        engine.dispose()  # new connections, each traced from its first statement
        event.listen(engine, "connect", trace)
    try:
        for i in range(2):
            captured_payment(app, f"grow{i}", provider="acme")
        flush(sim)
        app.state.reconciler.run_once()
        app.state.outbox.run_once()
        services.measure_ledger()
        services.audit.run_once()
    finally:
        for engine in engines:
            event.remove(engine, "connect", trace)
            engine.dispose()
    statements = {s for s in ran if s.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT"))}
    assert len(statements) > 20
    # (outbox_messages is the queue itself, its delivered rows deleted: scanning it costs the backlog, not history)
    growing = ("payments", "ledger_postings", "ledger_transactions", "audit_events", "idempotency_keys",
               "settlement_lines", "settlement_files", "webhook_events", "deliveries", "reservations",
               "reconciliation_breaks", "dead_letters")
    scans = {}
    with services.reader.connect() as conn:
        driver = conn.connection.driver_connection
        for statement in statements:
            plan = [row[-1] for row in driver.execute("EXPLAIN QUERY PLAN " + statement)]
            bad = [step for step in plan if step.startswith(tuple(f"SCAN {t}" for t in growing))]
            if bad:
                scans[statement[:300]] = bad
    assert scans == {}


def test_duplicate_settlement_is_a_duplicate_charge(world):
    app, sim, mp = world
    set_fault(sim, "duplicate_capture", {"provider": "acme", "rate": 1.0})
    payment = captured_payment(app, "dup", amount=1234, currency="GBP")
    flush(sim)
    app.state.reconciler.run_once()
    app.state.reconciler.run_once()  # counted once, however often it runs
    assert breaks(app) == [("acme", "duplicate")]
    assert sample(mp, "moneypath_reconciliation_mismatches_total", provider="acme", mismatch_kind="duplicate") == 1
    assert sample(mp, "moneypath_duplicate_charges_total", provider="acme") == 1
    assert sample(mp, "moneypath_duplicate_charged_minor_total", currency="GBP") == payment["amount_minor"]


def test_altered_and_dropped_settlements_are_breaks(world):
    app, sim, mp = world
    set_fault(sim, "settlement_alter", {"provider": "acme", "rate": 1.0, "delta_minor": -7})
    captured_payment(app, "alt")
    set_fault(sim, "settlement_drop", {"provider": "globex", "rate": 1.0})
    captured_payment(app, "drop", provider="globex")
    flush(sim)
    rec = app.state.reconciler
    rec.run_once()
    assert breaks(app) == [("acme", "amount_differs")]
    assert sample(mp, "moneypath_reconciliation_oldest_unreconciled_seconds", provider="globex") > 0
    rec.run_once(time.time() + 601)  # past missing_after_s: the dropped capture is missing at the provider
    assert breaks(app) == [("acme", "amount_differs"), ("globex", "missing_at_provider")]
    assert sample(mp, "moneypath_reconciliation_oldest_unreconciled_seconds", provider="globex") > 600
    assert sample(mp, "moneypath_reconciliation_mismatches_total", provider="globex",
                  mismatch_kind="missing_at_provider") == 1


def test_a_settled_payment_the_ledger_never_captured_is_missing_in_ledger(world, tmp_path):
    app, _, mp = world
    settlements = tmp_path / "settlements"
    settlements.mkdir(exist_ok=True)
    (settlements / "acme-20260101000000-0001.csv").write_text(
        "provider_ref,reference,amount_minor,currency,status,settled_at\n"
        "acme_auth_ghost,order-x,990,USD,SETTLED,2026-01-01T00:00:00Z\n")
    (settlements / "acme-20260101000000-0002.csv").write_text("not,a,settlement\n")
    rec = app.state.reconciler
    assert rec.run_once() == {"files": 2, "lines": 1, "matched": 0}
    assert breaks(app) == []  # within the grace period the capture may still be committing
    rec.run_once(time.time() + 11)
    assert breaks(app) == [("acme", "missing_in_ledger")]
    assert sample(mp, "moneypath_reconciliation_mismatches_total", provider="acme",
                  mismatch_kind="missing_in_ledger") == 1


def test_a_capture_booked_after_its_line_was_a_break_still_reconciles(world, tmp_path):
    app, _, mp = world
    auth = authorized_payment(app, "late")
    settlements = tmp_path / "settlements"
    settlements.mkdir(exist_ok=True)
    (settlements / "acme-20260101000000-0003.csv").write_text(
        "provider_ref,reference,amount_minor,currency,status,settled_at\n"
        f"{auth['provider_ref']},{auth['reference']},{auth['amount_minor']},EUR,SETTLED,2026-01-01T00:00:00Z\n")
    rec = app.state.reconciler
    rec.run_once()
    rec.run_once(time.time() + 11)  # the line outlived the grace period: the ledger did not have it then
    assert breaks(app) == [("acme", "missing_in_ledger")]
    assert call(app, "POST", f"/v1/payments/{auth['id']}/capture", "late-cap").status_code == 200
    assert rec.run_once()["matched"] == 1
    rec.run_once(time.time() + 601)  # past missing_after_s: not missing at the provider, it settled
    assert breaks(app) == [("acme", "missing_in_ledger")]
    assert sample(mp, "moneypath_reconciliation_mismatches_total", provider="acme",
                  mismatch_kind="missing_in_ledger") == 1
    assert sample(mp, "moneypath_reconciliation_oldest_unreconciled_seconds", provider="acme") == 0
