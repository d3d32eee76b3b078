"""The service's audit check walking in a child process (audit/walker.py; the service's own run does): it answers as
the walk in a thread does, on SQLite and PostgreSQL; a child that dies is replaced by one resumed at the last
verified tip, so a chain rewritten meanwhile is still caught; the child goes when the service closes it or its
input closes. It starts processes, so it is here, not in the unit tier."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select, update

from moneypath.catalog.conventions import Key
from moneypath.instrument import MoneyPath
from moneypath.protocol.audit.chain import HASHED, event_hash
from moneypath.reference.refservice import payment_state
from moneypath.reference.refservice.audit import trail
from moneypath.reference.refservice.audit.chain_check import AuditCheck
from moneypath.reference.refservice.audit.walker import MODULE, WalkerError, WalkerProcess
from moneypath.reference.refservice.db import audit_events, audit_head, make_engine, make_reader
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


def book(engine, n: int, start: int = 0) -> None:
    """n payments authorized and captured by a shop of another kind (KNET, Kuwaiti dinars): 2 events each."""
    for i in range(start, start + n):
        with engine.begin() as conn, trail.acting("shop_7", "payments:write"):
            row = payment_state.create(conn, payment_state.PaymentRow(
                principal="shop_7", kind="payment", state="authorized", provider="knet", method="card",
                amount_minor=1250 + i, currency="KWD", reference=f"kw-{i}", provider_ref=f"knet_{i}",
                provider_status="approved"))
        with engine.begin() as conn, trail.acting("shop_7", "payments:write"):
            payment_state.mark_captured(conn, row, "captured")


def walking_check(url, engine, registry):
    mp = MoneyPath.from_catalog(ROOT / "moneypath.yaml", registry=registry)
    return AuditCheck(engine, make_reader(url), mp, walker_db_url=url)


def broken_signal(check, registry) -> float | None:
    return registry.get_sample_value(check.mp.catalog.metric(Key.AUDIT_CHAIN_BROKEN))


def test_the_walker_answers_as_the_thread_does_and_catches_an_edit(ledger):
    url, engine = ledger
    book(engine, 10)
    registry = CollectorRegistry()
    check = walking_check(url, engine, registry)
    thread = AuditCheck(engine, make_reader(url), check.mp)  # the same check, walked in this process
    try:
        assert isinstance(check.watch, WalkerProcess)
        check.start()  # as the service's start-up does: the child is there, loaded, before any check
        started = check.watch._proc
        assert started is not None and started.poll() is None
        first, alone = check.run_once(), thread.run_once()
        assert check.watch._proc is started
        assert first.intact and (first.last_seq, first.last_hash) == (alone.last_seq, alone.last_hash) == (
            20, check.watch.tip[1])
        assert broken_signal(check, registry) == 0
        book(engine, 3, start=10)
        assert check.run_once().intact and check.watch.tip[0] == 26

        with engine.begin() as conn:  # an old event edited in place, as someone with write access would
            conn.execute(update(audit_events).where(audit_events.c.seq == 4).values(after='{"state": "edited"}'))
        verdict = check.run_once()  # its sweep (at least 1,000 events) covers the whole chain
        assert not verdict.intact and verdict.broken_seq == 4 and verdict.reason
        assert verdict.reason == thread.run_once().reason
        assert broken_signal(check, registry) == 1
    finally:
        check.close()


def test_a_walker_that_dies_is_replaced_at_the_last_tip_and_a_rewrite_meanwhile_is_caught(ledger):
    url, engine = ledger
    book(engine, 4)
    registry = CollectorRegistry()
    check = walking_check(url, engine, registry)
    try:
        assert check.run_once().intact and check.watch.tip[0] == 8
        child = check.watch._proc
        child.kill()
        child.wait(timeout=10)
        with pytest.raises(WalkerError, match="exited"):
            check.run_once()  # the workers' loop logs this and runs the check again at its interval
        assert check.watch.tip[0] == 8  # kept for the next child

        book(engine, 2, start=4)
        verdict = check.run_once()
        assert verdict.intact and check.watch.tip[0] == 12 and check.watch._proc.pid != child.pid

        replaced = check.watch._proc
        replaced.kill()
        replaced.wait(timeout=10)
        with pytest.raises(WalkerError):
            check.run_once()
        rehash_newest(engine)  # while no walker runs: a consistent chain, which a walk from the head would pass
        verdict = check.run_once()
        assert not verdict.intact and verdict.broken_seq == 12
        assert "its hash differs from the one verified earlier" in verdict.reason
        assert broken_signal(check, registry) == 1
        last = check.watch._proc
    finally:
        check.close()
    assert last.poll() is not None


def rehash_newest(engine) -> None:
    """The newest event's amount edited, its hash recomputed and the head moved onto it, as a forger would."""
    columns = [audit_events.c[name] for name in (*HASHED, "prev_hash")]
    with engine.begin() as conn:
        newest = conn.execute(select(*columns).order_by(audit_events.c.seq.desc()).limit(1)).mappings().one()
        event = {**newest, "after": newest["after"].replace('"captured"', '"refunded"')}
        assert event["after"] != newest["after"]
        forged = event_hash(event["prev_hash"], event)
        conn.execute(update(audit_events).where(audit_events.c.seq == event["seq"])
                     .values(after=event["after"], hash=forged))
        conn.execute(update(audit_head).where(audit_head.c.id == 1).values(hash=forged))


def test_the_walker_ends_when_closed_or_when_its_input_closes(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    book(engine, 1)
    walker = WalkerProcess(url)
    assert walker.check().intact
    child = walker._proc
    # `moneypath down` and a Ctrl-C signal the service's whole process group: the child stays for the service's
    # last check at shutdown, and goes when the service closes it
    child.send_signal(signal.SIGTERM)
    child.send_signal(signal.SIGINT)
    book(engine, 1, start=1)
    verdict = walker.check()
    assert verdict.intact and walker.tip[0] == 4 and child.poll() is None
    walker.close()
    assert child.returncode == 0 and walker._proc is None
    walker.close()  # twice: nothing left to stop

    # a service killed outright closes the child's input with its own end: the child goes too
    orphan = subprocess.Popen([sys.executable, "-m", MODULE, "--db", url],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    orphan.stdin.write('{"check": true}\n')
    orphan.stdin.flush()
    answer = json.loads(orphan.stdout.readline())
    assert answer["tip"][0] == 4 and answer["verdict"]["broken_seq"] is None
    orphan.stdin.close()
    assert orphan.wait(timeout=10) == 0
    orphan.stdout.close()
    with engine.connect() as conn:
        assert conn.execute(select(audit_events.c.seq)).all() == [(1,), (2,), (3,), (4,)]  # a reader: wrote nothing
    engine.dispose()
