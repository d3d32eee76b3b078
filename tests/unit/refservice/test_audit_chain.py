"""The audit chain's walk (moneypath.protocol.audit.chain): its fast paths, a walk in ranges and SQLite's quoting,
give the answers one plain walk gives."""

from __future__ import annotations

import sqlite3

import pytest

from moneypath.protocol.audit.chain import EVENTS_TABLE, GENESIS, HASHED, HEAD_TABLE, event_hash
from moneypath.protocol.audit.checkpoint import CheckpointDir, Verifier
from moneypath.reference.refservice.db import make_engine, make_reader
from tests.support.audit_checkpoints import insert, other_actor, rehash_from, truncate


def spans_here(engine):
    """verify_database's `spans`, run in this process (the CLI runs each range in a process of its own)."""
    from moneypath.protocol.audit.chain import walk_span

    def run(ranges, marks):
        with engine.connect() as conn:
            return [walk_span(conn, first, last, marks, batch=4) for first, last in ranges]
    return run


@pytest.mark.parametrize("attack, broken_at, says", [
    (None, None, ""),
    (lambda path: rehash_from(path, 14, other_actor), 20, "differs from checkpoint 00000000000000000020.note"),
    (lambda path: rehash_from(path, 2, other_actor), 10, "differs from checkpoint 00000000000000000010.note"),
    (lambda path: sqlite3.connect(path).execute(f"UPDATE {EVENTS_TABLE} SET actor = 'x' WHERE seq = 15").connection
     .commit(), 15, "the event was edited"),
    (lambda path: sqlite3.connect(path).execute(f"DELETE FROM {EVENTS_TABLE} WHERE seq = 13").connection.commit(),
     13, "seq 13 is missing"),  # the last event of a range: the next range starts from it
    (lambda path: truncate(path), 20, "the chain ends at seq 19, but seq 20 is in checkpoint"),
])
def test_a_walk_in_ranges_finds_what_one_walk_finds(ledger, monkeypatch, attack, broken_at, says):
    from moneypath.protocol.audit import chain as audit_chain
    from moneypath.protocol.audit.checkpoint import marks

    path, keys, cps = ledger
    if attack is not None:
        attack(path)
    monkeypatch.setattr(audit_chain, "SPAN_MIN", 6)
    signed = marks(CheckpointDir(cps).read(Verifier((keys / "payments-audit.pub").read_text())))
    engine = make_reader(f"sqlite:///{path}")  # reads only: no write lock for the second connection to wait on
    with engine.connect() as conn:
        one = audit_chain.verify_database(conn, marks=signed, batch=4)
        ranges = audit_chain.verify_database(conn, marks=signed, spans=spans_here(engine), workers=3)
    engine.dispose()
    assert (ranges.broken_seq, ranges.events, ranges.last_seq) == (one.broken_seq, one.events, one.last_seq)
    assert one.broken_seq == broken_at and says in one.reason and says in ranges.reason


def test_an_event_the_database_quotes_otherwise_is_hashed_again_in_python(tmp_path):
    """A foreign writer that stores `at` as text: SQLite's quoting path cannot build its JSON, the Python one can."""
    from moneypath.protocol.audit.chain import verify_database

    path = tmp_path / "shop.db"
    db = sqlite3.connect(path)
    db.execute(f"CREATE TABLE {EVENTS_TABLE} ({', '.join(HASHED)}, prev_hash, hash)")
    db.execute(f"CREATE TABLE {HEAD_TABLE} (id INTEGER PRIMARY KEY, seq INTEGER, hash TEXT)")
    event = {"seq": 1, "at": "2027-01-15T08:00:00Z", "actor": "box-office\n", "scope": "", "correlation_id": "c",
             "entity": "ticket", "entity_id": "t1", "action": "charge", "before": None, "after": "{}",
             "prev_hash": GENESIS}
    event["hash"] = event_hash(GENESIS, event)
    insert(db, event)
    db.execute(f"INSERT INTO {HEAD_TABLE} VALUES (1, 1, ?)", (event["hash"],))
    db.commit()
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert verify_database(conn).intact
    db.execute(f"UPDATE {EVENTS_TABLE} SET at = '2027-01-15T09:00:00Z'")
    db.commit()
    with engine.connect() as conn:
        assert verify_database(conn).reason.endswith("the event was edited")
    engine.dispose()
    db.close()
