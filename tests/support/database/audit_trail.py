"""The audit trail on a database: one event per state change of a financial record, in the booking's
transaction, hash-chained; editing, deleting or cutting off events is caught. Run on SQLite by
tests/unit/refservice/test_audit_trail.py and on PostgreSQL by
tests/integration/refservice/test_audit_trail_postgresql.py."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import delete, func, select, update

from moneypath.instrument._correlation import reset_correlation_id, set_correlation_id
from moneypath.protocol.audit.chain import (
    GENESIS,
    PENDING_MAX_S,
    ChainWatch,
    event_hash,
    verify_database,
)
from moneypath.reference.refservice import payment_state
from moneypath.reference.refservice.audit import trail as audit
from moneypath.reference.refservice.db import audit_events, audit_head, audit_pending, make_engine


@pytest.fixture
def engine(ledger_url):
    engine = make_engine(ledger_url)
    yield engine
    engine.dispose()


def book_payment(engine, pid: str, amount: int = 2500, who: str = "merchant_1") -> dict:
    with engine.begin() as conn, audit.acting(who, "payments:write"):
        return payment_state.create(conn, payment_state.PaymentRow(
            principal=who, kind="payment", state="authorized", provider="acme", method="card", amount_minor=amount,
            currency="EUR", reference=f"order-{pid}", provider_ref=f"acme_{pid}", provider_status="approved", id=pid))


def verdict(engine, anchor=None):
    with engine.connect() as conn:
        return verify_database(conn, anchor=anchor, batch=3)  # small pages: the walk crosses page borders


def seed(engine, n: int = 4) -> None:
    for i in range(n):
        row = book_payment(engine, f"pay_{i}")
        with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
            payment_state.mark_captured(conn, row, "captured")


def test_every_change_appends_an_event_with_who_why_and_before_after(engine):
    token = set_correlation_id("corr-4711-abcdef")
    try:
        row = book_payment(engine, "pay_a")
        with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
            assert payment_state.mark_captured(conn, row, "captured")
        with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
            payment_state.mark_refunded(conn, {**row, "state": "captured"}, 1000, "refunded")
    finally:
        reset_correlation_id(token)
    with engine.connect() as conn:
        events = audit.events_for(conn, "pay_a")
    assert [(e["seq"], e["action"]) for e in events] == [(1, "authorize"), (2, "capture"), (3, "refund")]
    assert {(e["actor"], e["scope"], e["correlation_id"], e["entity"]) for e in events} == {
        ("merchant_1", "payments:write", "corr-4711-abcdef", "payment")}
    created, captured, refunded = events
    assert created["before"] is None and json.loads(created["after"])["amount_minor"] == 2500
    assert json.loads(captured["before"])["state"] == "authorized"
    assert json.loads(captured["after"])["state"] == "captured"
    assert json.loads(refunded["before"]) == {"state": "captured", "refunded_minor": 0, "provider_status": "approved"}
    assert json.loads(refunded["after"]) == {"state": "captured", "refunded_minor": 1000, "provider_status": "refunded"}
    assert created["prev_hash"] == GENESIS and captured["prev_hash"] == created["hash"]
    assert verdict(engine).intact and verdict(engine).last_seq == 3


def test_a_rolled_back_booking_leaves_no_event_and_the_chain_intact(engine):
    book_payment(engine, "pay_ok")
    with pytest.raises(RuntimeError), engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
        payment_state.create(conn, payment_state.PaymentRow(
            principal="merchant_1", kind="payment", state="authorized", provider="acme", method="card",
            amount_minor=10, currency="EUR", reference="r", provider_ref="x", provider_status="approved", id="pay_gone"))
        raise RuntimeError("the ledger write failed after the event was appended")
    book_payment(engine, "pay_next")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_events)).scalar() == 2
    assert verdict(engine).intact


def test_a_capture_booked_twice_appends_one_event(engine):
    """The event goes with the booking statement's row (audit.Audited): a capture that finds the payment captured
    already writes nothing, event included (on PostgreSQL neither chained nor parked)."""
    row = book_payment(engine, "pay_twice")
    for booked in (True, False):
        with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
            assert payment_state.mark_captured(conn, row, "captured") is booked
    with engine.connect() as conn:
        assert [e["action"] for e in audit.events_for(conn, "pay_twice")] == ["authorize", "capture"]
        assert conn.execute(select(func.count()).select_from(audit_pending)).scalar() == 0
    v = verdict(engine)
    assert (v.intact, v.events, v.pending) == (True, 2, 0)


def test_fields_with_quotes_escapes_and_non_ascii_are_stored_and_hashed_as_given(engine):
    """On PostgreSQL the event travels as its JSON and the database hashes it and reads the fields back
    (audit._append_sql): what it stores must be what was given, and verify must agree with its hash."""
    actor, correlation = 'mérchant "1" \\ \t ü€', 'corr-"x"\n'
    token = set_correlation_id(correlation)
    try:
        with engine.begin() as conn, audit.acting(actor, "payments:write"):
            payment_state.create(conn, payment_state.PaymentRow(
                principal="m", kind="payment", state="authorized", provider="acme", method="card", amount_minor=1,
                currency="EUR", reference='ref "ü"', provider_ref="acme_q", provider_status="approved", id="pay_quoted"))
    finally:
        reset_correlation_id(token)
    with engine.connect() as conn:
        (event,) = audit.events_for(conn, "pay_quoted")
    assert (event["actor"], event["correlation_id"], event["before"]) == (actor, correlation, None)
    assert json.loads(event["after"])["reference"] == 'ref "ü"'
    assert event["hash"] == event_hash(GENESIS, event) and verdict(engine).intact


def test_an_edited_event_is_caught_at_its_seq(engine):
    seed(engine)
    assert verdict(engine).intact
    with engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 5)
                     .values(after=json.dumps({"state": "captured", "amount_minor": 1})))
    v = verdict(engine)
    assert (v.intact, v.broken_seq) == (False, 5) and "edited" in v.reason


def test_an_edited_and_rehashed_event_is_caught_by_the_next_event(engine):
    seed(engine)
    with engine.begin() as conn:  # a careful forger recomputes the row's own hash, not the rest of the chain
        row = dict(conn.execute(select(audit_events).where(audit_events.c.seq == 3)).mappings().one())
        row["actor"] = "someone_else"
        conn.execute(update(audit_events).where(audit_events.c.seq == 3)
                     .values(actor="someone_else", hash=event_hash(row["prev_hash"], row)))
    v = verdict(engine)
    assert (v.broken_seq, "prev_hash" in v.reason) == (4, True)


def test_a_deleted_event_is_caught_as_a_gap(engine):
    seed(engine)
    with engine.begin() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq == 4))
    v = verdict(engine)
    assert v.broken_seq == 4 and "deleted" in v.reason


def test_deleting_the_newest_events_is_caught_by_the_head(engine):
    seed(engine)
    with engine.begin() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq >= 7))
    v = verdict(engine)
    assert v.broken_seq == 7 and "newest events were deleted" in v.reason


def test_a_chain_rewritten_from_the_start_is_caught_against_an_earlier_walk(engine):
    seed(engine, 2)
    earlier = verdict(engine)
    with engine.begin() as conn:  # rewrite every event and the head consistently: only an earlier walk tells
        rows = [dict(r) for r in conn.execute(select(audit_events).order_by(audit_events.c.seq)).mappings()]
        prev = GENESIS
        for row in rows:
            row["actor"], row["prev_hash"] = "forger", prev
            row["hash"] = prev = event_hash(prev, row)
            conn.execute(update(audit_events).where(audit_events.c.seq == row["seq"])
                         .values(actor="forger", prev_hash=row["prev_hash"], hash=row["hash"]))
        conn.execute(update(audit_head).values(hash=prev))
    assert verdict(engine).intact  # consistent in itself
    v = verdict(engine, anchor=(earlier.last_seq, earlier.last_hash))
    assert v.broken_seq == earlier.last_seq and "rewritten" in v.reason


# ChainWatch: the running service's check, O(new events + sweep) per run, with the full walk's guarantees.

def watch_check(engine, watch: ChainWatch):
    with engine.connect() as conn:
        return watch.check(conn)


def rehash_all(engine, actor: str = "forger") -> None:
    """Rewrite every event and the head consistently (only an earlier check can tell)."""
    with engine.begin() as conn:
        rows = [dict(r) for r in conn.execute(select(audit_events).order_by(audit_events.c.seq)).mappings()]
        prev = GENESIS
        for row in rows:
            row["actor"], row["prev_hash"] = actor, prev
            prev = event_hash(prev, row)
            conn.execute(update(audit_events).where(audit_events.c.seq == row["seq"])
                         .values(actor=actor, prev_hash=row["prev_hash"], hash=prev))
        conn.execute(update(audit_head).values(hash=prev))


def test_the_watch_reads_only_new_events_and_a_bounded_sweep(engine):
    seed(engine, 10)  # 20 events
    watch = ChainWatch(sweep_min=3, batch=2)
    first = watch_check(engine, watch)  # the head event, then a sweep of 3 old ones: never the whole history
    assert (first.intact, first.events, first.last_seq, watch.sweep_next) == (True, 1 + 3, 20, 4)
    seed_more = [book_payment(engine, f"more_{i}") for i in range(5)]  # 5 new events
    second = watch_check(engine, watch)
    assert (second.events, second.last_seq, watch.sweep_next) == (5 + 5, 25, 9) and len(seed_more) == 5
    for _ in range(5):  # 9..23 in slices of 3
        assert watch_check(engine, watch).events == 3
    assert watch_check(engine, watch).events == 2 and watch.sweep_next == 1  # 24..25: the tip, so it wraps
    assert watch_check(engine, watch).events == 3 and watch.sweep_next == 4  # 1..3


def test_the_watch_pauses_between_pages_and_verifies_the_same(engine):
    """The service's check pauses after each full page (its thread lets the event loop run); the verdicts are
    those of a watch that does not."""
    seed(engine, 10)  # 20 events
    pauses = []
    paced, plain = ChainWatch(sweep_min=3, batch=2, between_pages=lambda: pauses.append(1)), ChainWatch(3, 2)
    assert watch_check(engine, paced) == watch_check(engine, plain) and len(pauses) == 1  # sweep 1..3: 2 + 1
    for i in range(5):
        book_payment(engine, f"paced_{i}")
    assert watch_check(engine, paced) == watch_check(engine, plain)
    assert len(pauses) == 1 + 2 + 2  # forward 21..25 and sweep 4..8: pages of 2, 2, 1 each


@pytest.mark.parametrize("edit", ["in_place", "deleted"])
def test_the_watch_sweep_finds_an_old_event_edited_or_deleted_after_it_was_verified(engine, edit):
    seed(engine, 6)
    watch = ChainWatch(sweep_min=4, batch=3)
    for _ in range(4):
        assert watch_check(engine, watch).intact
    with engine.begin() as conn:
        if edit == "in_place":
            conn.execute(update(audit_events).where(audit_events.c.seq == 2).values(after='{"state":"x"}'))
        else:
            conn.execute(delete(audit_events).where(audit_events.c.seq == 2))
    verdicts = [watch_check(engine, watch) for _ in range(4)]  # one sweep cycle: 12 events, 4 per check
    broken = [v for v in verdicts if not v.intact]
    assert broken and broken[0].broken_seq == 2
    assert ("edited" if edit == "in_place" else "deleted") in broken[0].reason
    assert not verdicts[-1].intact  # it stays broken while the damage is there


def test_the_sweep_comes_back_to_old_events_while_new_ones_keep_arriving(engine):
    """Payments between every check (as under load): the tip moves each time, and the sweep must still wrap
    round to the oldest events; an edit there is caught within one cycle (the overload drill's tamper)."""
    seed(engine, 10)  # 20 events
    watch = ChainWatch(sweep_min=8, batch=5)
    for i in range(4):
        assert watch_check(engine, watch).intact
        book_payment(engine, f"busy_{i}")
    with engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 3).values(after='{"state":"x"}'))
    verdicts = []
    for i in range(5):  # 28+ events, 8 swept per check (plus what is new): one cycle
        book_payment(engine, f"busier_{i}")
        verdicts.append(watch_check(engine, watch))
    assert any(v.broken_seq == 3 for v in verdicts), verdicts


def test_the_watch_clears_once_the_edited_event_is_restored(engine):
    seed(engine, 3)
    watch = ChainWatch(sweep_min=100)
    assert watch_check(engine, watch).intact
    with engine.connect() as conn:
        original = conn.execute(select(audit_events.c.after).where(audit_events.c.seq == 3)).scalar_one()
    with engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 3).values(after='{"amount_minor":1}'))
    assert watch_check(engine, watch).broken_seq == 3
    with engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 3).values(after=original))
    assert watch_check(engine, watch).intact and watch.broken is None


def test_the_watch_catches_a_full_rehash_and_a_head_moved_back_at_the_next_check(engine):
    seed(engine, 3)
    watch = ChainWatch(sweep_min=1)  # the sweep alone would take 6 checks: the tip catches it at once
    assert watch_check(engine, watch).intact
    rehash_all(engine)
    v = watch_check(engine, watch)
    assert v.broken_seq == 6 and "rewritten" in v.reason
    assert not watch_check(engine, watch).intact  # still broken: a consistent chain is no excuse

    book_payment(engine, "late")  # seq 7
    fresh = ChainWatch(sweep_min=1)
    assert watch_check(engine, fresh).intact
    with engine.begin() as conn:  # truncate: the newest event deleted, the head moved back to the one before
        prev = conn.execute(select(audit_events.c.hash).where(audit_events.c.seq == 6)).scalar_one()
        conn.execute(delete(audit_events).where(audit_events.c.seq == 7))
        conn.execute(update(audit_head).values(seq=6, hash=prev))
    v = watch_check(engine, fresh)
    assert not v.intact and "deleted" in v.reason


def test_the_watch_catches_a_forged_append_through_the_head(engine):
    seed(engine, 2)
    watch = ChainWatch(sweep_min=10)
    assert watch_check(engine, watch).intact
    with engine.begin() as conn:  # a new event whose prev_hash does not chain onto the last one
        row = dict(conn.execute(select(audit_events).where(audit_events.c.seq == 4)).mappings().one())
        row.update(seq=5, prev_hash=GENESIS, actor="forger")
        row["hash"] = event_hash(GENESIS, row)
        conn.execute(audit_events.insert().values(**row))
        conn.execute(update(audit_head).values(seq=5, hash=row["hash"]))
    v = watch_check(engine, watch)
    assert v.broken_seq == 5 and "prev_hash" in v.reason


def test_the_watch_on_an_empty_chain(engine):
    watch = ChainWatch()
    assert watch_check(engine, watch).intact and watch.tip is None
    seed(engine, 1)
    assert watch_check(engine, watch).last_seq == 2


def test_concurrent_bookings_keep_the_chain_linear(engine):
    errors, start = [], threading.Barrier(8)

    def writer(n: int):
        try:
            start.wait()
            for i in range(6):
                row = book_payment(engine, f"pay_{n}_{i}", who=f"merchant_{n}")
                with engine.begin() as conn, audit.acting(f"merchant_{n}", "payments:write"):
                    payment_state.mark_captured(conn, row, "captured")
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    audit.seal(engine)  # PostgreSQL: what the last bookings parked while another one held the chain
    with engine.connect() as conn:
        seqs = [s for (s,) in conn.execute(select(audit_events.c.seq).order_by(audit_events.c.seq))]
        head = conn.execute(select(audit_head.c.seq)).scalar()
    assert seqs == list(range(1, 97)) and head == 96
    v = verdict(engine)
    assert v.intact and v.events == 96


def test_events_not_yet_chained_are_counted_and_one_left_too_long_is_a_break(engine):
    seed(engine, 1)
    park(engine, "pay_parked")
    v, watch = verdict(engine), ChainWatch()
    assert (v.intact, v.events, v.pending) == (True, 2, 1) and v.line().endswith("1 event(s) pending, not yet chained")
    assert watch_check(engine, watch).pending == 1
    with engine.begin() as conn:
        conn.execute(update(audit_pending).values(at=time.time() - PENDING_MAX_S - 5))
    v = verdict(engine)
    assert (v.intact, v.broken_seq) == (False, 3) and "not yet chained" in v.reason, v.line()
    assert not watch_check(engine, watch).intact
    if engine.dialect.name == "postgresql":  # the sealer chains it (SQLite never parks: nothing seals there)
        assert audit.seal(engine) == 1
        v = verdict(engine)
        assert (v.intact, v.events, v.pending) == (True, 3, 0) and watch_check(engine, watch).intact


def park(engine, entity_id: str) -> None:
    """An event as a PostgreSQL booking parks it while another transaction holds the chain."""
    with engine.begin() as conn:
        conn.execute(audit_pending.insert().values(
            at=time.time(), actor="merchant_1", scope="payments:write", correlation_id="", entity="payment",
            entity_id=entity_id, action="capture", before=None, after='{"state":"captured"}'))




