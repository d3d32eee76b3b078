"""Risk, outbox, reconciliation, cost and the service's fault API, driven through the HTTP API
with the provider simulator in-process; the background jobs are run by hand (run_once)."""

from __future__ import annotations

import asyncio
import hashlib
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from moneypath.catalog.conventions import Key
from moneypath.instrument.prometheus_backend import PrometheusBackend
from moneypath.instrument.signals import MoneyPath
from moneypath.protocol.tokens import issue
from moneypath.reference.providersim.simulator_app import SimConfig
from moneypath.reference.providersim.simulator_app import create_app as create_sim
from moneypath.reference.refservice import ledger
from moneypath.reference.refservice.app import ServiceConfig, create_app
from moneypath.reference.refservice.db import dead_letters, deliveries, outbox_messages, payments, reconciliation_breaks
from moneypath.reference.refservice.risk import RiskPolicy
from tests.support.refservice import (
    ACME_HOOK,
    ADMIN,
    SECRET,
    WRITE,
    authorize,
    authorized_payment,
    call,
    capture_event,
    captured_payment,
    client_for,
    flush,
    post_raw,
    sample,
    set_fault,
)

READ_ONLY = {"authorization": f"Bearer {issue(SECRET, 'merchant_1', ['payments:read'], ttl_s=3600)}"}












def count(app, table, *where) -> int:
    with app.state.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


# --- service fault API ----------------------------------------------------------------------------------


def test_fault_api_needs_the_scope_and_validates(world):
    app, _, _ = world
    assert call(app, "GET", "/admin/faults").status_code == 403  # payments:write is not admin:faults
    listed = call(app, "GET", "/admin/faults", headers=ADMIN).json()
    assert listed["faults"] == [] and "ledger_write_failure" in listed["available"]
    bad = call(app, "PUT", "/admin/faults/ledger_write_failure", json={"rate": 2}, headers=ADMIN)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert "rate: must be a number from 0 to 1" in bad.json()["detail"]
    assert call(app, "PUT", "/admin/faults/nope", json={}, headers=ADMIN).status_code == 404
    queue = call(app, "PUT", "/admin/faults/consumer_failure", json={"rate": 1, "queue": "nope"}, headers=ADMIN)
    assert queue.status_code == 422 and "queue: must be one of notifications, compliance_log" in queue.json()["detail"]
    ok = call(app, "PUT", "/admin/faults/consumer_failure", json={"rate": 1, "queue": "notifications"}, headers=ADMIN)
    assert ok.json() | {"ends_in_s": 0} == {"name": "consumer_failure", "queue": "notifications", "rate": 1, "ends_in_s": 0}
    def timeless(faults):  # ends_in_s counts down: a slow machine crosses a second between two calls
        return [fault | {"ends_in_s": 0} for fault in faults]

    assert timeless(call(app, "GET", "/admin/faults", headers=ADMIN).json()["faults"]) == timeless([ok.json()])
    cleared = call(app, "DELETE", "/admin/faults/consumer_failure", headers=ADMIN).json()["cleared"]
    assert timeless(cleared) == timeless([ok.json()])
    assert call(app, "GET", "/admin/faults", headers=ADMIN).json()["faults"] == []


def test_deeply_nested_json_is_a_4xx_problem_not_a_5xx(world):
    from moneypath.reference.signing import HEADER, sign

    app, _, _ = world
    deep = b"[" * 30_000 + b"]" * 30_000  # under the 64 KiB body limit
    put = call_raw(app, "PUT", "/admin/faults/risk_down", deep, ADMIN)
    assert put.status_code == 422 and put.headers["content-type"] == "application/problem+json"
    hooked = post_raw(app, "/v1/webhooks/acme", deep, {HEADER: sign(ACME_HOOK, deep)})
    assert hooked.status_code == 400 and hooked.json()["type"].endswith("/webhook-malformed")


def call_raw(app, method, path, content: bytes, headers: dict):
    async def go():
        async with await client_for(app) as c:
            return await c.request(method, path, content=content, headers=headers)
    return asyncio.run(go())


def test_fault_api_is_refused_unless_enabled(catalog, tmp_path):
    app = create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'l.db'}", token_secret=SECRET, background_jobs=False),
                     mp=MoneyPath(catalog, PrometheusBackend(CollectorRegistry())))
    refused = call(app, "PUT", "/admin/faults/risk_down", json={}, headers=ADMIN)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/faults-disabled")


# --- ledger write failures ------------------------------------------------------------------------------


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


# --- risk -----------------------------------------------------------------------------------------------


def test_fraud_spike_declines_without_calling_the_provider(world):
    app, _, mp = world
    call(app, "PUT", "/admin/faults/fraud_spike", json={"rate": 1}, headers=ADMIN)
    declined = authorize(app, "fraud-1")
    assert declined.status_code == 201
    assert declined.json()["state"] == "declined" and declined.json()["risk_decision"] == "decline"
    assert sample(mp, "moneypath_fraud_decisions_total", decision="decline") == 1
    assert sample(mp, "moneypath_provider_requests_total", provider="acme", operation="authorize",
                  outcome="success") == 0
    assert sample(mp, "moneypath_fraud_score_ratio_count") == 1
    assert sample(mp, "moneypath_cost_usd_total", component="fraud_screening", provider="none") > 0


def test_risk_down_allows_small_payments_and_holds_large_ones(world):
    app, _, mp = world
    call(app, "PUT", "/admin/faults/risk_down", json={}, headers=ADMIN)
    small, large = authorize(app, "small", amount=4000), authorize(app, "large", amount=9000)
    assert small.json()["risk_decision"] == "allow" and small.json()["state"] in ("authorized", "declined")
    assert large.json()["risk_decision"] == "hold" and large.json()["state"] == "held"
    assert large.json()["provider_ref"] is None  # held payments never reach the provider
    assert sample(mp, "moneypath_fraud_check_timeouts_total", fallback="allow") == 1
    assert sample(mp, "moneypath_fraud_check_timeouts_total", fallback="hold") == 1


# --- outbox ---------------------------------------------------------------------------------------------


def test_outbox_delivers_each_money_movement_to_both_consumers(world):
    app, _, mp = world
    payment = captured_payment(app, "ob")
    assert count(app, outbox_messages) == 2
    assert app.state.outbox.run_once() == {"delivered": 2, "retried": 0, "dead": 0}
    assert count(app, deliveries, deliveries.c.payload.contains(payment["id"])) == 2
    assert count(app, outbox_messages) == 0
    assert sample(mp, "moneypath_queue_depth", queue="notifications") == 0


def test_consumer_failures_retry_with_backoff_then_dead_letter(world):
    app, _, mp = world
    call(app, "PUT", "/admin/faults/consumer_failure", json={"rate": 1, "queue": "compliance_log"}, headers=ADMIN)
    captured_payment(app, "dl")
    outbox = app.state.outbox
    now = time.time()
    assert outbox.run_once(now) == {"delivered": 1, "retried": 1, "dead": 0}
    assert sample(mp, "moneypath_queue_depth", queue="compliance_log") == 1
    with app.state.engine.connect() as conn:
        due = conn.execute(select(outbox_messages.c.next_attempt_at)).scalar_one()
    assert now <= due <= now + 0.2  # full jitter under base 0.2 s for the first retry
    assert outbox.run_once(now + 10)["retried"] == 1
    assert outbox.run_once(now + 20) == {"delivered": 0, "retried": 0, "dead": 1}  # 3rd attempt was the last
    assert count(app, dead_letters, dead_letters.c.queue == "compliance_log") == 1
    assert count(app, outbox_messages) == 0
    assert sample(mp, "moneypath_dead_letters_total", queue="compliance_log") == 1
    assert sample(mp, "moneypath_queue_depth", queue="compliance_log") == 0


# --- reconciliation -------------------------------------------------------------------------------------


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
    with the ledger's history (issue 27: reconciliation looked lines' payments up by provider_ref alone, past the
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


# --- webhooks settle ambiguous captures -----------------------------------------------------------------


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






def fee_usd(catalog, provider, amount_minor) -> float:
    fee = catalog.cost.provider_fees[provider]
    return fee.fixed_usd + amount_minor / 100 * fee.bps / 10_000


def test_a_capture_the_webhook_booked_first_counts_the_fee_once_and_is_a_ledger_write(world, catalog):
    from moneypath.reference.signing import HEADER, sign

    app, _, mp = world
    auth = authorized_payment(app, "race")
    adapter = app.state.adapters["acme"]
    original = adapter.capture

    async def capture_then_webhook(*args):  # the provider's webhook wins the race to the ledger
        result = await original(*args)
        async with await client_for(app) as c:
            event = capture_event(auth)
            hooked = await c.post("/v1/webhooks/acme", content=event, headers={HEADER: sign(ACME_HOOK, event)})
        assert hooked.json()["booked"] is True
        return result

    adapter.capture = capture_then_webhook
    writes = sample(mp, "moneypath_ledger_writes_total", outcome="committed")
    captured = call(app, "POST", f"/v1/payments/{auth['id']}/capture", "race-cap")
    assert captured.status_code == 200 and captured.json()["state"] == "captured"
    with app.state.engine.connect() as conn:
        assert ledger.transactions_for(conn, auth["id"]) == ["capture"]
    assert sample(mp, "moneypath_cost_usd_total", component="provider_fee", provider="acme") == pytest.approx(
        fee_usd(catalog, "acme", auth["amount_minor"]))
    assert sample(mp, "moneypath_ledger_writes_total", outcome="committed") == writes + 2  # webhook, then API


def test_a_failed_ledger_write_then_the_retry_counts_the_capture_fee_once(world, catalog):
    app, _, mp = world
    auth = authorized_payment(app, "fee")
    call(app, "PUT", "/admin/faults/ledger_write_failure", json={"rate": 1}, headers=ADMIN)
    failed = call(app, "POST", f"/v1/payments/{auth['id']}/capture", "fee-cap")
    assert failed.status_code == 503
    assert sample(mp, "moneypath_cost_usd_total", component="provider_fee", provider="acme") == 0
    call(app, "DELETE", "/admin/faults/ledger_write_failure", headers=ADMIN)
    assert call(app, "POST", f"/v1/payments/{auth['id']}/capture", "fee-cap").status_code == 200
    assert sample(mp, "moneypath_cost_usd_total", component="provider_fee", provider="acme") == pytest.approx(
        fee_usd(catalog, "acme", auth["amount_minor"]))




# --- cost -----------------------------------------------------------------------------------------------


def test_infrastructure_cost_accrues_and_the_cost_fault_multiplies_it(world, catalog):
    app, _, mp = world
    meter = app.state.cost
    clock = [0.0]
    meter._clock, meter._since = (lambda: clock[0]), 0.0
    clock[0] = 3600
    meter.accrue_infrastructure()
    base = catalog.cost.infrastructure_usd_per_hour
    assert sample(mp, "moneypath_cost_usd_total", component="infrastructure", provider="none") == pytest.approx(base)
    call(app, "PUT", "/admin/faults/cost_increase", json={"factor": 3}, headers=ADMIN)
    clock[0] = 7200
    meter.accrue_infrastructure()
    assert sample(mp, "moneypath_cost_usd_total", component="infrastructure", provider="none") == \
        pytest.approx(4 * base)


# --- configuration --------------------------------------------------------------------------------------


@pytest.mark.parametrize("env, message", [
    ({}, "set MONEYPATH_TOKEN_SECRET"),
    ({"MONEYPATH_TOKEN_SECRET": "s", "MONEYPATH_RISK_FALLBACK": "maybe"}, "MONEYPATH_RISK_FALLBACK='maybe'"),
    ({"MONEYPATH_TOKEN_SECRET": "s", "MONEYPATH_RISK_TIMEOUT_MS": "fast"}, "MONEYPATH_RISK_TIMEOUT_MS='fast' is not"),
    ({"MONEYPATH_TOKEN_SECRET": "s", "MONEYPATH_RECONCILE_INTERVAL_S": "0"}, "must be between"),
])
def test_bad_configuration_stops_with_one_line(env, message):
    with pytest.raises(SystemExit) as stopped:
        ServiceConfig.from_env(env)
    assert message in str(stopped.value) and "\n" not in str(stopped.value)


def test_configuration_from_the_environment():
    config = ServiceConfig.from_env({"MONEYPATH_TOKEN_SECRET": "s", "MONEYPATH_ENABLE_FAULTS": "1",
                                     "MONEYPATH_RISK_FALLBACK": "hold", "MONEYPATH_RISK_TIMEOUT_MS": "80",
                                     "MONEYPATH_SETTLEMENT_DIR": "/tmp/s"})
    assert config.enable_faults and config.settlement_dir == "/tmp/s"
    assert config.risk == RiskPolicy(timeout_s=0.08, fallback="hold", allow_limit_minor=5000)


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


def test_with_instrumentation_off_payments_work_and_nothing_is_exposed(catalog, tmp_path):
    sim = create_sim(SimConfig(settlement_dir=tmp_path / "s", webhook_url=None, webhook_secret=b"w",
                               token_secret=SECRET, latency_scale=0))
    app = create_app(ServiceConfig(catalog=str(catalog.path), db_url=f"sqlite:///{tmp_path / 'l.db'}",
                                   token_secret=SECRET, provider_url="http://sim", background_jobs=False,
                                   instrumented=False), provider_transport=httpx.ASGITransport(app=sim))
    assert app.state.mp.backend.name == "none"
    assert authorize(app, "off-1").status_code == 201
    assert call(app, "GET", "/metrics").status_code == 404


def test_provider_fees_read_the_amount_in_its_currency_s_exponent():
    from moneypath.catalog import load_catalog
    from moneypath.reference.refservice.cost import CostMeter
    from tests.conftest import CATALOG_PATH

    class Spent:
        def __init__(self):
            self.usd = []

        def add_cost(self, component, usd, provider="none"):
            self.usd.append((component, round(usd, 6), provider))

    c = load_catalog(CATALOG_PATH)
    provider, fee = next(iter(c.cost.provider_fees.items()))
    spent = Spent()
    meter = CostMeter(spent, c)
    for currency in ("EUR", "JPY", "KWD"):
        meter.provider_fee(provider, 6235, currency)
    major = {"EUR": 62.35, "JPY": 6235, "KWD": 6.235}
    assert spent.usd == [("provider_fee", round(fee.fixed_usd + major[cur] * fee.bps / 10_000, 6), provider)
                         for cur in ("EUR", "JPY", "KWD")]
