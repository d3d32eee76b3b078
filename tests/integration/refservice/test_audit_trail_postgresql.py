"""tests/support/database/audit_trail.py on a real PostgreSQL server (a fresh database per test), and what only
PostgreSQL does: a booking parks its event while another transaction holds the chain."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from moneypath.protocol.audit.chain import GENESIS, event_hash
from moneypath.reference.refservice import payment_state
from moneypath.reference.refservice.audit import trail
from moneypath.reference.refservice.db import audit_events, audit_head, audit_pending, make_engine
from tests.support.database import audit_trail as contract
from tests.support.database import database_tests
from tests.support.database.audit_trail import book_payment, park, verdict

globals().update(database_tests(contract, "engine"))


def test_a_booking_held_open_after_its_append_does_not_hold_up_another(pg_url):
    """PostgreSQL: the transaction that chains holds the chain until it commits; another booking meanwhile
    parks its event instead of waiting (with the head row locked FOR UPDATE it waited the whole length)."""
    engine = make_engine(pg_url)
    try:
        first = engine.connect()
        held = first.begin()
        with trail.acting("merchant_1", "payments:write"):
            payment_state.create(first, payment_state.PaymentRow(
                principal="merchant_1", kind="payment", state="authorized", provider="acme", method="card",
                amount_minor=100, currency="EUR", reference="r-open", provider_ref="acme_open",
                provider_status="approved", id="pay_open"))
        done, errors = threading.Event(), []

        def other():
            try:
                book_payment(engine, "pay_other")
                done.set()
            except BaseException as exc:  # noqa: BLE001 - surfaced below
                errors.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        booked = done.wait(timeout=10)
        held.rollback()  # the holder's booking fails: its event goes, the parked one stays parked
        first.close()
        thread.join(timeout=30)
        assert booked and not errors, errors
        assert verdict(engine).pending == 1
        book_payment(engine, "pay_next")  # the next holder chains its own (in its booking's statement), then what was parked
        with engine.connect() as conn:
            order = [r for (r,) in conn.execute(select(audit_events.c.entity_id).order_by(audit_events.c.seq))]
        assert order == ["pay_next", "pay_other"]
        v = verdict(engine)
        assert (v.intact, v.events, v.pending) == (True, 2, 0)
    finally:
        engine.dispose()

def test_an_event_parked_by_a_booking_survives_the_holders_crash_and_the_seal_chains_it(pg_url):
    """The capture's own statement parks its event while another booking holds the chain; the holder's process
    dies before committing. The parked event committed with the capture: a fresh process finds it pending, its
    seal chains it, and the chain verifies with every acknowledged booking's event in it."""
    from sqlalchemy import text

    engine = make_engine(pg_url)
    row = book_payment(engine, "pay_c")
    assert (verdict(engine).events, verdict(engine).pending) == (1, 0)  # no contention: chained by its booking
    holder = engine.connect()
    holder.begin()
    with trail.acting("merchant_1", "payments:write"):
        payment_state.create(holder, payment_state.PaymentRow(
            principal="merchant_1", kind="payment", state="authorized", provider="acme", method="card",
            amount_minor=100, currency="EUR", reference="r-holder", provider_ref="acme_holder",
            provider_status="approved", id="pay_holder"))
    holder_pid = holder.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with engine.begin() as conn, trail.acting("merchant_1", "payments:write"):
        assert payment_state.mark_captured(conn, row, "captured")  # parked: the holder has the chain
    assert verdict(engine).pending == 1
    with engine.begin() as conn:  # the holder's process dies: its open transaction goes, unacknowledged
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder_pid}).scalar()
    holder.invalidate()
    engine.dispose()

    restarted = make_engine(pg_url)
    try:
        v = verdict(restarted)
        assert (v.intact, v.events, v.pending) == (True, 1, 1)
        assert trail.seal(restarted) == 1
        with restarted.connect() as conn:
            assert [e["action"] for e in trail.events_for(conn, "pay_c")] == ["authorize", "capture"]
            assert trail.events_for(conn, "pay_holder") == []
        v = verdict(restarted)
        assert (v.intact, v.events, v.pending) == (True, 2, 0)
    finally:
        restarted.dispose()


def test_the_service_chains_parked_events_within_seconds_and_at_shutdown(pg_url, catalog):
    import asyncio

    from prometheus_client import CollectorRegistry

    from moneypath.instrument import MoneyPath
    from moneypath.instrument._prometheus_backend import PrometheusBackend
    from moneypath.reference.refservice.app import ServiceConfig, create_app

    engine = make_engine(pg_url)
    app = create_app(ServiceConfig(db_url=pg_url, token_secret=b"s", provider_url="http://127.0.0.1:9"),
                     mp=MoneyPath(catalog, PrometheusBackend(CollectorRegistry())))

    def chained() -> list[str]:
        with engine.connect() as conn:
            return [r for (r,) in conn.execute(select(audit_events.c.entity_id).order_by(audit_events.c.seq))]

    async def run() -> tuple[list[str], list[str]]:
        async with app.router.lifespan_context(app):
            park(engine, "pay_parked")
            deadline = time.monotonic() + 10
            while "pay_parked" not in chained() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            running = chained()
            park(engine, "pay_last")  # parked just before the service stops
        return running, chained()

    try:
        running, stopped = asyncio.run(run())
        assert running == ["pay_parked"] and stopped == ["pay_parked", "pay_last"]
        v = verdict(engine)
        assert (v.intact, v.events, v.pending) == (True, 2, 0)
    finally:
        engine.dispose()


def _park_behind_a_holder(engine, ids: list[str]) -> None:
    """Book `ids` while another transaction holds the chain (and rolls back): their statements park them, each
    with its tail."""
    holder = engine.connect()
    held = holder.begin()
    with trail.acting("merchant_1", "payments:write"):
        payment_state.create(holder, payment_state.PaymentRow(
            principal="merchant_1", kind="payment", state="authorized", provider="acme", method="card",
            amount_minor=100, currency="EUR", reference=f"r-hold-{ids[0]}", provider_ref=f"acme_hold_{ids[0]}",
            provider_status="approved", id=f"hold_{ids[0]}"))
    try:
        for pid in ids:
            book_payment(engine, pid)
    finally:
        held.rollback()
        holder.close()


def _chained_as_event_hash_does(engine) -> list[str]:
    """The chain's entity ids in seq order, after checking every event's hash against audit_chain.event_hash
    (byte for byte: the statement hashed the stored tail, Python hashes the stored fields)."""
    with engine.connect() as conn:
        events = [dict(r) for r in conn.execute(select(audit_events).order_by(audit_events.c.seq)).mappings()]
    prev = GENESIS
    for event in events:
        assert (event["prev_hash"], event["hash"]) == (prev, event_hash(prev, event)), event
        prev = event["hash"]
    return [e["entity_id"] for e in events]


def test_parked_events_are_chained_by_the_next_holders_statement_in_id_order_with_event_hashs_hashes(pg_url):
    from sqlalchemy import func

    engine = make_engine(pg_url)
    try:
        _park_behind_a_holder(engine, ["pay_p1", "pay_p2", "pay_p3"])
        with engine.connect() as conn:
            tails = conn.execute(select(audit_pending.c.tail)).scalars().all()
        assert len(tails) == 3 and all(tails)
        with pytest.raises(RuntimeError), engine.begin() as conn:  # a holder that chained them rolls back
            with trail.acting("merchant_1", "payments:write"):
                payment_state.create(conn, payment_state.PaymentRow(
                    principal="merchant_1", kind="payment", state="authorized", provider="acme", method="card",
                    amount_minor=1, currency="EUR", reference="r-back", provider_ref="acme_back",
                    provider_status="approved", id="pay_back"))
            assert conn.execute(select(func.count()).select_from(audit_events)).scalar() == 4
            raise RuntimeError("the booking fails after its statement")
        assert verdict(engine).pending == 3 and _chained_as_event_hash_does(engine) == []
        book_payment(engine, "pay_next")  # its own event first, then the parked ones, in one statement
        assert _chained_as_event_hash_does(engine) == ["pay_next", "pay_p1", "pay_p2", "pay_p3"]
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(audit_pending)).scalar() == 0
            assert tuple(conn.execute(select(audit_head.c.seq)).one()) == (4,)
        _park_behind_a_holder(engine, ["pay_s1", "pay_s2"])
        assert trail.seal(engine) == 2 and trail.seal(engine) == 0
        assert _chained_as_event_hash_does(engine)[4:] == ["pay_s1", "pay_s2"]
        v = verdict(engine)
        assert (v.intact, v.events, v.pending) == (True, 6, 0)
    finally:
        engine.dispose()


def test_rows_parked_without_a_tail_by_an_earlier_version_are_chained_in_id_order_with_the_newer_ones(pg_url):
    """A service of an earlier version parks the fields only (no tail); the holder's statement then leaves the
    parked rows to _chain (Python, from the fields): id order holds across both kinds."""
    engine = make_engine(pg_url)
    try:
        park(engine, "pay_old")  # the fields only, as an earlier version parks
        _park_behind_a_holder(engine, ["pay_new"])
        book_payment(engine, "pay_next")
        assert _chained_as_event_hash_does(engine) == ["pay_next", "pay_old", "pay_new"]
        park(engine, "pay_old2")
        _park_behind_a_holder(engine, ["pay_new2"])
        assert trail.seal(engine) == 2
        assert _chained_as_event_hash_does(engine)[3:] == ["pay_old2", "pay_new2"]
        v = verdict(engine)
        assert (v.intact, v.events, v.pending) == (True, 5, 0)
    finally:
        engine.dispose()


def test_an_audit_pending_table_without_the_tail_column_gets_it(pg_url):
    from sqlalchemy import text

    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_pending DROP COLUMN tail"))
    engine.dispose()
    engine = make_engine(pg_url)  # as a service of this version starting on an older database
    try:
        park(engine, "pay_old")
        _park_behind_a_holder(engine, ["pay_new"])
        assert trail.seal(engine) == 2
        assert _chained_as_event_hash_does(engine) == ["pay_old", "pay_new"]
    finally:
        engine.dispose()
