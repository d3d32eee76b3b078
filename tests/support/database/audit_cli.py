"""`moneypath audit verify --db URL` on a database: exit 0 intact, 1 at the first broken event. Run on SQLite by
tests/unit/refservice/test_audit_cli.py and on PostgreSQL by tests/integration/refservice/test_audit_cli_postgresql.py."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import delete, update

from moneypath.protocol.audit.chain import PENDING_MAX_S
from moneypath.reference.refservice.db import audit_events, audit_pending, make_engine
from tests.conftest import run_cli
from tests.support.database.audit_trail import seed


@pytest.fixture
def ledger(ledger_url):
    engine = make_engine(ledger_url)
    seed(engine, 3)
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







