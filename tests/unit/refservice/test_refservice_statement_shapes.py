"""The SQL texts the background jobs run do not multiply with their batch sizes: SQLite's driver keeps
the last 128 prepared statements per connection, so an IN list whose length followed the data was a new text at
almost every run, filled each writer connection's cache with variants of up to ~120 kB and pushed the money
path's own statements out. A soak's resident memory rose ~2 MB per connection per 20,000 requests."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry
from sqlalchemy import event

from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.reference.refservice.db import make_engine, outbox_messages, settlement_files, settlement_lines
from moneypath.reference.refservice.ledger import RunningImbalance
from moneypath.reference.refservice.outbox import OutboxWorker
from moneypath.reference.refservice.reconciliation import Reconciler
from moneypath.reference.refservice.statements import padded

RUNS = 40  # outbox batches of 1 to 40; open settlement lines pile up to the reconciler's batch of 500
MOST = 10  # texts per IN list: one per power of two up to 512 (before: one per length, ~40 here)


def texts(engine) -> set[str]:
    seen: set[str] = set()
    event.listen(engine, "before_cursor_execute", lambda conn, cursor, sql, *rest: seen.add(sql))
    return seen


def test_padded_keeps_the_rows_and_rounds_the_length_to_a_power_of_two():
    assert padded([]) == []
    assert padded([7]) == [7]
    assert padded([1, 2, 3]) == [1, 2, 3, 3]
    assert len(padded(list(range(500)))) == 512 and set(padded(list(range(500)))) == set(range(500))


def test_outbox_and_reconciliation_run_few_statement_texts_whatever_their_batch(catalog, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    outbox = OutboxWorker(engine, mp)
    reconciler = Reconciler(engine, mp, str(tmp_path / "settlements"), ["acme", "globex"], grace_s=3600,
                            missing_after_s=3600)
    seen, now = texts(engine), time.time()
    for run in range(1, RUNS + 1):
        with engine.begin() as conn:
            conn.execute(outbox_messages.insert(), [{"queue": "notifications", "event": "e", "payload": "{}",
                                                     "attempts": 0, "next_attempt_at": now, "created_at": now}
                                                    for _ in range(run)])
            # lines of both providers, in counts that differ run to run; none matches (within grace, so they stay
            # open and the next run reads them again with the new ones)
            conn.execute(settlement_files.insert().values(name=f"acme-{run}.csv", provider="acme", lines=run,
                                                          imported_at=now))
            conn.execute(settlement_lines.insert(), [
                {"file": f"acme-{run}.csv", "provider": "acme" if i % 3 else "globex", "provider_ref": f"r{run}-{i}",
                 "reference": "o", "amount_minor": 100, "currency": "EUR", "status": "settled", "imported_at": now,
                 "state": "open"} for i in range(run)])
        assert outbox.run_once(now)["delivered"] == run
        reconciler.run_once(now)
    variants = {sql.split(" IN ")[0] for sql in seen if " IN (" in sql}
    assert variants, "the jobs ran no IN list: the test no longer covers what it is for"
    for variant in variants:
        count = sum(1 for sql in seen if sql.split(" IN ")[0] == variant)
        assert count <= MOST, f"{count} texts of: {variant[:120]}"


def test_running_imbalance_reads_late_postings_with_few_statement_texts(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    seen, imbalance = texts(engine), RunningImbalance()
    with engine.connect() as conn:
        for pending in range(1, RUNS + 1):
            imbalance.pending = dict.fromkeys(range(10_000, 10_000 + pending), time.time())
            imbalance.update(conn)
    assert sum(1 for sql in seen if " IN (" in sql) <= 7  # 1 to 40: 1, 2, 4, ..., 64
