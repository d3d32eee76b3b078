"""`moneypath audit verify --db URL`: one line, exit 0 intact, 1 at the first broken event, 2 for a database it
cannot read (SQLite here; PostgreSQL in tests/integration/refservice/test_audit_cli_postgresql.py)."""

from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy import delete, update

from moneypath.protocol.audit_chain import PENDING_MAX_S
from moneypath.reference.refservice import audit, payments
from moneypath.reference.refservice.db import audit_events, audit_pending, make_engine
from tests.conftest import run_cli


@pytest.fixture
def ledger(ledger_url):
    engine = make_engine(ledger_url)
    for i in range(3):
        with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
            row = payments.create(conn, principal="merchant_1", kind="payment", state="authorized", provider="acme",
                                  method="card", amount_minor=1000 + i, currency="EUR", reference=f"o{i}",
                                  provider_ref=f"acme_{i}", provider_status="approved")
        with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
            payments.mark_captured(conn, row, "captured")
    yield ledger_url, engine
    engine.dispose()


def verify(url):
    return run_cli("audit", "verify", "--db", url)


def test_an_intact_chain_exits_0_with_one_line(ledger):
    url, _ = ledger
    result = verify(url)
    assert (result.returncode, result.stdout, result.stderr) == (0, "audit chain intact: 6 event(s), seq 1..6\n", "")


def test_an_edited_event_exits_1_naming_its_seq(ledger):
    url, engine = ledger
    with engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 4).values(actor="someone"))
    result = verify(url)
    assert result.returncode == 1
    assert result.stdout.startswith("audit chain BROKEN at seq 4: ") and "edited" in result.stdout
    assert len(result.stdout.splitlines()) == 1


def test_an_event_not_yet_chained_is_reported_and_one_left_too_long_exits_1(ledger):
    url, engine = ledger
    with engine.begin() as conn:  # parked by a PostgreSQL booking while another transaction held the chain
        conn.execute(audit_pending.insert().values(
            at=time.time(), actor="merchant_1", scope="payments:write", correlation_id="", entity="payment",
            entity_id="pay_parked", action="refund", before=None, after="{}"))
    result = verify(url)
    assert (result.returncode, result.stdout) == (
        0, "audit chain intact: 6 event(s), seq 1..6; 1 event(s) pending, not yet chained\n")
    with engine.begin() as conn:
        conn.execute(update(audit_pending).values(at=time.time() - PENDING_MAX_S - 1))
    result = verify(url)
    assert result.returncode == 1 and result.stdout.startswith("audit chain BROKEN at seq 7: 1 event(s) not yet "
                                                               "chained")


def test_a_deleted_event_exits_1_naming_the_gap(ledger):
    url, engine = ledger
    with engine.begin() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq == 2))
    result = verify(url)
    assert result.returncode == 1 and "seq 2" in result.stdout and "deleted" in result.stdout


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
    nothing of the reference service: plain sqlite3, the table names and the hash of moneypath.protocol.audit_chain."""
    from moneypath.protocol.audit_chain import EVENTS_TABLE, GENESIS, HASHED, HEAD_TABLE, canonical_state, event_hash

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
