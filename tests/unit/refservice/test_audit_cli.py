"""`moneypath audit verify --db URL`: one line, exit 0 intact, 1 at the first broken event, 2 for a database it
cannot read. The tests on a ledger are the contract in tests/support/database/audit_cli.py, collected here on
SQLite (PostgreSQL: tests/integration/refservice/test_audit_cli_postgresql.py)."""

from __future__ import annotations

import sqlite3

import pytest

from tests.support.database import audit_cli as contract
from tests.support.database import database_tests
from tests.support.database.audit_cli import verify

globals().update(database_tests(contract, "ledger"))  # the database contract, collected here on SQLite


@pytest.mark.parametrize("url, says", [("nonsense://x", "not a database URL"),
                                       ("sqlite:////nonexistent/dir/ledger.db", "cannot open the database")])
def test_a_bad_url_is_one_line_and_exit_2(url, says):
    result = verify(url)
    assert result.returncode == 2 and says in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_database_without_an_audit_trail_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "other.db"
    sqlite3.connect(path).close()
    result = verify(f"sqlite:///{path}")
    assert result.returncode == 2 and "cannot read audit_events" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_foreign_service_writing_the_layout_itself_is_verified_and_an_edit_caught(tmp_path):
    """A team's own service (tickets charged in JPY and KWD, its own actions and actors) writes the chain with
    nothing of the reference service: plain sqlite3, the table names and the hash of moneypath.protocol.audit.chain."""
    from moneypath.protocol.audit.chain import EVENTS_TABLE, GENESIS, HASHED, HEAD_TABLE, canonical_state, event_hash

    path = tmp_path / "shop.db"
    db = sqlite3.connect(path)
    db.execute(f"CREATE TABLE {EVENTS_TABLE} ({', '.join(HASHED)}, prev_hash, hash)")
    db.execute(f"CREATE TABLE {HEAD_TABLE} (id INTEGER PRIMARY KEY, seq INTEGER, hash TEXT)")
    prev = GENESIS
    for seq, (action, currency, amount) in enumerate([("charge", "JPY", 6235), ("charge", "KWD", 1250),
                                                      ("void", "JPY", 6235)], start=1):
        event = {"seq": seq, "at": 1_800_000_000.0 + seq, "actor": "box-office", "scope": "tickets:sell",
                 "correlation_id": f"c{seq}", "entity": "ticket", "entity_id": f"t{seq}", "action": action,
                 "before": None, "after": canonical_state({"currency": currency, "amount_minor": amount})}
        own = event_hash(prev, event)
        db.execute(f"INSERT INTO {EVENTS_TABLE} VALUES ({', '.join('?' * (len(HASHED) + 2))})",
                   [*(event[k] for k in HASHED), prev, own])
        prev = own
    db.execute(f"INSERT INTO {HEAD_TABLE} VALUES (1, 3, ?)", (prev,))
    db.commit()
    url = f"sqlite:///{path}"
    assert verify(url).stdout == "audit chain intact: 3 event(s), seq 1..3\n"
    db.execute(f"UPDATE {EVENTS_TABLE} SET after = replace(after, '1250', '125') WHERE seq = 2")
    db.commit()
    db.close()
    result = verify(url)
    assert result.returncode == 1 and result.stdout.startswith("audit chain BROKEN at seq 2:"), result.stdout
