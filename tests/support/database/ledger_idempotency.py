"""The ledger and idempotency contract on a database: balanced, append-only postings, idempotency keys that
survive retry storms, crashed owners and confused clients, and outbox messages delivered once. Run on SQLite by
tests/unit/refservice/test_ledger_idempotency.py and on PostgreSQL by
tests/integration/refservice/test_ledger_idempotency_postgresql.py."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, select

from moneypath.instrument import MoneyPath
from moneypath.reference.refservice import ledger, outbox
from moneypath.reference.refservice.db import deliveries, make_engine, outbox_messages
from moneypath.reference.refservice.idempotency import ClaimLost, IdempotencyOutcome, IdempotencyStore
from moneypath.reference.refservice.ledger import Posting, UnbalancedError


@pytest.fixture
def engine(ledger_url):
    """SQLite here; tests/integration/refservice/test_ledger_idempotency_postgresql.py runs the same tests on PostgreSQL."""
    engine = make_engine(ledger_url)
    yield engine
    engine.dispose()


def capture_postings(amount: int, currency: str = "EUR") -> list[Posting]:
    return [Posting("customer_funds", currency, -amount), Posting("merchant_receivable", currency, amount)]


def test_balanced_transactions_are_appended_and_balances_derived(engine):
    with engine.begin() as conn:
        ledger.post(conn, "pay_1", "capture", capture_postings(1999))
        ledger.post(conn, "pay_1", "refund", [Posting("merchant_receivable", "EUR", -500),
                                              Posting("customer_funds", "EUR", 500)])
        ledger.post(conn, "pay_2", "capture", capture_postings(700, "USD"))
    with engine.connect() as conn:
        assert ledger.balances(conn)[("merchant_receivable", "EUR")] == 1499
        assert ledger.imbalance(conn) == {"EUR": 0, "USD": 0}
        assert ledger.transactions_for(conn, "pay_1") == ["capture", "refund"]


def test_the_running_imbalance_reads_only_new_postings_and_agrees_with_the_full_sum(engine):
    running = ledger.RunningImbalance()
    with engine.begin() as conn:
        ledger.post(conn, "pay_1", "capture", capture_postings(1999))
    with engine.connect() as conn:
        assert running.update(conn) == {"EUR": 0} and running.after == 2
    with engine.begin() as conn:  # a one-legged write that bypassed ledger.post (what the alert is for)
        ledger.post(conn, "pay_2", "capture", capture_postings(700, "JPY"))
        conn.execute(ledger.ledger_postings.insert().values(transaction_id=1, account="suspense", currency="JPY",
                                                            amount_minor=5))
    with engine.connect() as conn:
        assert running.update(conn) == ledger.imbalance(conn) == {"EUR": 0, "JPY": 5}
        assert running.after == 5 and not running.pending




@pytest.mark.parametrize("postings, error", [
    ([Posting("a", "EUR", 100), Posting("b", "EUR", -99)], UnbalancedError),
    ([Posting("a", "EUR", 100), Posting("b", "USD", -100)], UnbalancedError),   # balanced only across currencies
    ([Posting("a", "EUR", 100)], UnbalancedError),
])
def test_unbalanced_transactions_are_refused_before_anything_is_written(engine, postings, error):
    with pytest.raises(error), engine.begin() as conn:
        ledger.post(conn, "pay_x", "capture", postings)
    with engine.connect() as conn:
        assert ledger.imbalance(conn) == {} and ledger.transactions_for(conn, "pay_x") == []




def test_new_then_replay_then_mismatch(engine):
    store = IdempotencyStore(engine)
    mine = store.claim("merchant_1", "k1", "authorize", "h1")
    assert mine.outcome is IdempotencyOutcome.NEW
    assert store.claim("merchant_1", "k1", "authorize", "h1").outcome is IdempotencyOutcome.IN_PROGRESS
    with engine.begin() as conn:
        store.complete(conn, "merchant_1", "k1", mine.lock, 201, '{"id": "pay_1"}')
    replay = store.claim("merchant_1", "k1", "authorize", "h1")
    assert (replay.outcome, replay.status, replay.body) == (IdempotencyOutcome.REPLAY, 201, '{"id": "pay_1"}')
    assert store.claim("merchant_1", "k1", "authorize", "h2").outcome is IdempotencyOutcome.MISMATCH
    assert store.claim("merchant_1", "k1", "refund", "h1").outcome is IdempotencyOutcome.MISMATCH
    assert store.claim("merchant_2", "k1", "authorize", "h2").outcome is IdempotencyOutcome.NEW  # keys are per principal


def test_a_claim_whose_owner_died_is_recoverable_once_after_its_lock_expires(engine):
    store = IdempotencyStore(engine, lock_ttl_s=30)
    assert store.claim("m", "k", "capture", "h", now=1000).outcome is IdempotencyOutcome.NEW
    assert store.claim("m", "k", "capture", "h", now=1029).outcome is IdempotencyOutcome.IN_PROGRESS
    taken = store.claim("m", "k", "capture", "h", now=1031)
    assert taken.outcome is IdempotencyOutcome.NEW
    assert store.claim("m", "k", "capture", "h", now=1032).outcome is IdempotencyOutcome.IN_PROGRESS  # only one retry wins


def test_a_stale_owner_cannot_release_or_complete_the_claim_a_retry_took_over(engine):
    store = IdempotencyStore(engine, lock_ttl_s=30)
    stale = store.claim("m", "k", "capture", "h", now=1000)
    taken = store.claim("m", "k", "capture", "h", now=1031)
    assert taken.outcome is IdempotencyOutcome.NEW and taken.lock != stale.lock
    store.release("m", "k", stale.lock)  # the stale owner's request failed: it must not free the retry's claim
    assert store.claim("m", "k", "capture", "h", now=1032).outcome is IdempotencyOutcome.IN_PROGRESS
    with pytest.raises(ClaimLost), engine.begin() as conn:
        store.complete(conn, "m", "k", stale.lock, 200, '{"by": "stale"}')
    with engine.begin() as conn:
        store.complete(conn, "m", "k", taken.lock, 200, '{"by": "retry"}')
    assert store.claim("m", "k", "capture", "h", now=1033).body == '{"by": "retry"}'


def test_release_lets_a_retry_run_after_a_failure_without_effect(engine):
    store = IdempotencyStore(engine)
    store.release("m", "k", store.claim("m", "k", "payout", "h").lock)
    assert store.claim("m", "k", "payout", "h").outcome is IdempotencyOutcome.NEW


def test_completing_twice_is_refused(engine):
    store = IdempotencyStore(engine)
    lock = store.claim("m", "k", "capture", "h").lock
    with engine.begin() as conn:
        store.complete(conn, "m", "k", lock, 200, "{}")
    with pytest.raises(ClaimLost), engine.begin() as conn:
        store.complete(conn, "m", "k", lock, 200, "{}")


def test_retry_storm_one_key_exactly_one_ledger_effect_identical_responses(engine):
    store = IdempotencyStore(engine)
    responses: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(24)

    def client():
        try:
            start.wait()
            while True:
                claim = store.claim_or_wait("merchant_1", "storm-key", "capture", "h", wait_s=10)
                if claim.outcome is IdempotencyOutcome.NEW:
                    body = json.dumps({"payment_id": "pay_storm", "status": "captured"})
                    with engine.begin() as conn:  # effect and completion commit together
                        ledger.post(conn, "pay_storm", "capture", capture_postings(4200))
                        store.complete(conn, "merchant_1", "storm-key", claim.lock, 200, body)
                    responses.append((200, body))
                    return
                if claim.outcome is IdempotencyOutcome.REPLAY:
                    responses.append((claim.status, claim.body))
                    return
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(responses) == 24 and len(set(responses)) == 1
    with engine.connect() as conn:
        assert ledger.transactions_for(conn, "pay_storm") == ["capture"]
        assert ledger.imbalance(conn) == {"EUR": 0}


def test_the_outbox_delivers_in_batches_and_records_a_redelivered_message_once(engine, catalog):
    with engine.begin() as conn:
        for i in range(5):
            outbox.enqueue(conn, "payment.captured", {"payment_id": f"pay_{i}"})
    with engine.begin() as conn:  # a worker recorded the first message, then stopped before deleting it
        first = conn.execute(select(outbox_messages).order_by(outbox_messages.c.id)).first()
        conn.execute(deliveries.insert().values(queue=first.queue, message_id=first.id, event=first.event,
                                                payload=first.payload, delivered_at=1.0))
    worker = outbox.OutboxWorker(engine, MoneyPath(catalog), batch=4)
    assert [worker.run_once()["delivered"] for _ in range(4)] == [4, 4, 2, 0]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox_messages)).scalar() == 0
        recorded = conn.execute(select(deliveries.c.queue, deliveries.c.message_id, deliveries.c.delivered_at)).all()
    assert len(recorded) == len({(q, m) for q, m, _ in recorded}) == 10
    assert [at for q, m, at in recorded if (q, m) == (first.queue, first.id)] == [1.0]  # the first record stands
