"""The audit trail of the reference service: one event per state change of a financial record, in the
booking's transaction, hash-chained; editing, deleting or cutting off events is caught. The tests taking an engine
are the contract in tests/support/database/audit_trail.py, collected here on SQLite and in
tests/integration/refservice/test_audit_trail_postgresql.py on a real PostgreSQL server."""

from __future__ import annotations

from moneypath.protocol.audit.chain import (
    GENESIS,
    ChainWatch,
    event_hash,
    verify_chain,
)
from tests.support.database import audit_trail as contract
from tests.support.database import database_tests
from tests.support.database.audit_trail import verdict, watch_check

globals().update(database_tests(contract, "engine"))  # the database contract, collected here on SQLite


def test_a_chain_without_a_pending_table_verifies_as_before(tmp_path):
    """Another service's chain in the same two tables (audit_pending is optional): nothing is pending."""
    import sqlite3

    from sqlalchemy import create_engine

    from moneypath.protocol.audit.chain import EVENTS_TABLE, HEAD_TABLE, ROW

    db, prev = sqlite3.connect(tmp_path / "theirs.db"), GENESIS
    db.execute(f"CREATE TABLE {EVENTS_TABLE} ({', '.join(ROW)})")
    db.execute(f"CREATE TABLE {HEAD_TABLE} (id, seq, hash)")
    for seq in (1, 2):
        row = {"seq": seq, "at": 10.5 * seq, "actor": "box_office", "scope": "tickets:sell", "correlation_id": "c",
               "entity": "ticket", "entity_id": f"tkt_{seq}", "action": "sell", "before": None, "after": "{}",
               "prev_hash": prev}
        row["hash"] = prev = event_hash(prev, row)
        db.execute(f"INSERT INTO {EVENTS_TABLE} VALUES ({', '.join('?' * len(ROW))})", [row[c] for c in ROW])
    db.execute(f"INSERT INTO {HEAD_TABLE} VALUES (1, 2, ?)", (prev,))
    db.commit()
    db.close()
    engine = create_engine(f"sqlite:///{tmp_path / 'theirs.db'}")
    try:
        v = verdict(engine)
        assert (v.intact, v.events, v.pending) == (True, 2, 0) and v.line() == "audit chain intact: 2 event(s), seq 1..2"
        assert watch_check(engine, ChainWatch()).intact
    finally:
        engine.dispose()


def test_an_event_hashed_from_its_tail_hashes_as_event_hash():
    """A database that numbers and hashes the event (PostgreSQL, audit._append_sql) is sent event_tail and hashes
    prev_hash + '[' + seq + tail: the same sha256 as event_hash, escapes, non-ASCII and NULL included."""
    import hashlib

    from moneypath.protocol.audit.chain import HASHED, event_tail

    for before in (None, '{"note":"caf\u00e9 \\ \"q\""}'):
        event = {"seq": 12345, "at": 1764000000.123456, "actor": "mérchant\n1", "scope": "payments:write",
                 "correlation_id": "c\"1", "entity": "payment", "entity_id": "pay_1", "action": "capture",
                 "before": before, "after": '{"state":"captured","ü":1}'}
        tail = event_tail(event[k] for k in HASHED[1:])
        by_database = hashlib.sha256(f"{'f' * 64}[{event['seq']}{tail}".encode()).hexdigest()
        assert by_database == event_hash("f" * 64, event)


def test_the_pure_walk_on_rows_in_memory():
    rows, prev = [], GENESIS
    for seq in (1, 2, 3):
        row = {"seq": seq, "at": 1.5 * seq, "actor": "a", "scope": "s", "correlation_id": "c", "entity": "payment",
               "entity_id": "p", "action": "capture", "before": None, "after": "{}", "prev_hash": prev}
        row["hash"] = prev = event_hash(prev, row)
        rows.append(row)
    assert verify_chain(rows, head=(3, prev)).intact
    assert verify_chain([], head=(0, GENESIS)).intact
    assert verify_chain(rows[:2], head=(3, prev)).broken_seq == 3
    assert verify_chain([rows[0], rows[2]]).broken_seq == 2
    assert verify_chain(rows, head=(3, "f" * 64)).broken_seq == 3
    assert verify_chain([{**rows[0], "at": 1.6}, *rows[1:]]).broken_seq == 1
