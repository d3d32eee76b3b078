"""Exactly-once money movement: balanced, append-only postings, idempotency keys that
survive retry storms, crashed owners and confused clients, and outbox messages delivered once. The tests on a
database are the contract in tests/support/database/ledger_idempotency.py, collected here on SQLite."""

from __future__ import annotations

import pytest

from moneypath.reference.refservice import ledger
from moneypath.reference.refservice.db import make_engine
from moneypath.reference.refservice.ledger import Posting
from tests.support.database import database_tests
from tests.support.database import ledger_idempotency as contract

globals().update(database_tests(contract, "engine"))  # the database contract, collected here on SQLite


def test_the_running_imbalance_reads_an_id_that_committed_late_and_forgets_a_rolled_back_one(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'late.db'}")
    running = ledger.RunningImbalance(settle_s=60)
    with engine.begin() as conn:  # ids 3 and 4 taken by a transaction that has not committed yet (PostgreSQL)
        conn.execute(ledger.ledger_transactions.insert().values(id=1, payment_id="p", kind="capture", created_at=0))
        for pid, amount in ((1, 100), (2, -100), (5, 40), (6, -40)):
            conn.execute(ledger.ledger_postings.insert().values(id=pid, transaction_id=1, account=f"a{pid}",
                                                                currency="KWD", amount_minor=amount))
    with engine.connect() as conn:
        assert running.update(conn, now=1000.0) == {"KWD": 0} and set(running.pending) == {3, 4}
    with engine.begin() as conn:  # the late commit, unbalanced
        conn.execute(ledger.ledger_postings.insert().values(id=3, transaction_id=1, account="x", currency="KWD",
                                                            amount_minor=7))
    with engine.connect() as conn:
        assert running.update(conn, now=1010.0) == {"KWD": 7} and set(running.pending) == {4}
        running.update(conn, now=1061.0)  # id 4 never came: rolled back, no longer read
    assert not running.pending
    engine.dispose()


def test_money_is_integer_minor_units_in_an_iso_currency():
    with pytest.raises(TypeError):
        Posting("a", "EUR", 19.99)
    with pytest.raises(ValueError):
        Posting("a", "eur", 100)
    with pytest.raises(ValueError):
        Posting("a", "EUR", 0)
