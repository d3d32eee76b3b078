"""`moneypath audit verify --jobs N` walks ranges of a long chain in forked processes (so it is here, not in the
unit tier): the same answers as one walk, on SQLite and PostgreSQL, through signed checkpoints too. Ranges are
made small (SPAN_MIN) so a 40-event chain is cut into three."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update

from moneypath.protocol.audit import chain as audit_chain
from moneypath.protocol.audit.chain import verify_database
from moneypath.reference.refservice.db import audit_events, audit_head, make_engine
from tests.conftest import run_cli
from tests.support.database.audit_trail import seed

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def chain(request, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'ledger.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    seed(engine, 20)
    keys = tmp_path / "keys"
    keys.mkdir()
    assert run_cli("audit", "keygen", "jobs", "--out", str(keys)).returncode == 0
    assert run_cli("audit", "checkpoint", "--db", url, "--key", str(keys / "jobs.key"), "--checkpoints",
                   str(tmp_path / "cps")).returncode == 0
    monkeypatch.setattr(audit_chain, "SPAN_MIN", 8)
    yield url, engine, ["--checkpoints", str(tmp_path / "cps"), "--key", str(keys / "jobs.pub")]
    engine.dispose()


def both(url, more):
    one = run_cli("audit", "verify", "--db", url, "--jobs", "1", *more)
    three = run_cli("audit", "verify", "--db", url, "--jobs", "3", *more)
    return one, three


def test_ranges_in_processes_answer_as_one_walk(chain):
    url, engine, more = chain
    one, three = both(url, more)
    assert one.returncode == three.returncode == 0 and one.stdout == three.stdout
    assert one.stdout.startswith("audit chain intact: 40 event(s), seq 1..40; passes through 1 signed checkpoint")

    with engine.begin() as conn:  # an edit in the second range
        conn.execute(update(audit_events).where(audit_events.c.seq == 21).values(actor="x"))
    one, three = both(url, more)
    assert one.returncode == three.returncode == 1
    assert one.stdout == three.stdout and one.stdout.startswith("audit chain BROKEN at seq 21: ")

    with engine.begin() as conn:  # put back; then the newest event cut off and the head moved back
        conn.execute(update(audit_events).where(audit_events.c.seq == 21).values(actor="merchant_1"))
        last = conn.execute(audit_events.select().where(audit_events.c.seq == 39)).mappings().one()
        conn.execute(delete(audit_events).where(audit_events.c.seq == 40))
        conn.execute(update(audit_head).values(seq=39, hash=last["hash"]))
    one, three = both(url, more)
    assert one.returncode == three.returncode == 1 and one.stdout == three.stdout
    assert "the chain ends at seq 39, but seq 40 is in checkpoint 00000000000000000040.note" in one.stdout
    with engine.connect() as conn:
        assert not verify_database(conn).broken_seq  # without the checkpoint the cut-off chain verifies
