"""What the audit trail costs per booking, and what a full offline verify costs (figures, not pass/fail).

    .venv/bin/python benchmarks/bench_audit.py [--bookings 2000] [--rounds 5] [--postgres URL]
                                               [--verify-events 1000000] [--ledger PATH]

The booking transaction of an authorization (payment_state.create in one transaction, as booking.py commits
it) on a fresh SQLite ledger, with the audit append (one hash-chained event: read and lock the head,
insert, advance the head) and with the append replaced by a no-op; rounds alternate so drift on a shared
machine hits both alike. CPU is this process's (time.process_time: the fsync wait at each commit is not
CPU); the share is of the service's whole CPU per authorization, measured end to end by
benchmarks/bench_service.py (--cpu-per-auth-ms, default 1.0 ms: docs/performance.md's figure at 300/s; DESIGN.md's
older end-to-end figure is 3.1 ms). Goal: ≤ 5 %.
With --postgres the same runs on that database as well (one process; several processes booking at once:
benchmarks/bench_pg_bookings.py).

The full verify: a SQLite ledger holding --verify-events audit events (built once, kept at --ledger when given,
so a rerun reuses it), walked the way `moneypath audit verify --db` walks it (read-only, every hash recomputed,
rows beyond the head looked for), then again through one signed checkpoint every 1,000 events, as
`audit verify --checkpoints DIR --key PUB` does (reading and checking the signatures included).
Goal: ≤ 10 s for 1,000,000 events. --verify-events 0 skips it; --bookings 0 skips the per-booking figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from moneypath.check.audit_trail import spans_in_processes  # noqa: E402
from moneypath.reference.refservice import payment_state
from moneypath.reference.refservice.audit import trail as audit
from moneypath.reference.refservice.db import make_engine  # noqa: E402


def book(engine, n: int, tag: str) -> float:
    """CPU seconds per booking over n bookings."""
    start = time.process_time()
    with audit.acting("merchant_1", "payments:write"):
        for i in range(n):
            with engine.begin() as conn:
                payment_state.create(conn, payment_state.PaymentRow(
                    principal="merchant_1", kind="payment", state="authorized", provider="acme", method="card",
                    amount_minor=1000 + i, currency="EUR", reference=f"{tag}-{i}", provider_ref=f"acme_{tag}_{i}",
                    provider_status="approved", risk_decision="approve"))
    return (time.process_time() - start) / n


def measure(url: str, bookings: int, rounds: int) -> tuple[list[float], list[float]]:
    engine = make_engine(url)
    real = audit.append
    audited = getattr(audit, "Audited", None)  # absent in the code before bookings carried their event
    real_count = audited.count if audited is not None else None
    with_audit, without = [], []
    try:
        book(engine, 200, "warm")
        for r in range(rounds):
            with_audit.append(book(engine, bookings, f"a{r}"))
            payment_state.audit.append = lambda *a, **k: None  # the same transaction without the event
            if audited is not None:  # the booking statement without its event
                audited.count = lambda self, conn, params, *event: self.plain.count(conn, params)
            try:
                without.append(book(engine, bookings, f"n{r}"))
            finally:
                payment_state.audit.append = real
                if audited is not None:
                    audited.count = real_count
    finally:
        engine.dispose()
    return with_audit, without


def report(name: str, with_audit: list[float], without: list[float], cpu_per_auth_ms: float) -> None:
    added = [a - b for a, b in zip(with_audit, without)]
    med_added = statistics.median(added)
    print(f"{name}: booking transaction {statistics.median(without) * 1e6:.0f} µs CPU without the audit event, "
          f"{statistics.median(with_audit) * 1e6:.0f} µs with it; added per booking {med_added * 1e6:.0f} µs "
          f"(rounds {', '.join(f'{x * 1e6:.0f}' for x in added)}) = "
          f"{med_added * 1e3 / cpu_per_auth_ms * 100:.1f} % of {cpu_per_auth_ms:g} ms CPU per authorization "
          "(goal ≤ 5 %)")


def build_ledger(path: Path, events: int) -> list[tuple[int, str]]:
    """A ledger with `events` audit events (payments authorized and captured, as the service writes them),
    inserted straight through sqlite3; every 1,000th (seq, hash) for the checkpoints."""
    import sqlite3

    from moneypath.protocol.audit.chain import EVENTS_TABLE, GENESIS, HASHED, HEAD_TABLE, canonical_state, event_hash

    make_engine(f"sqlite:///{path}").dispose()  # the service's schema
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous = OFF")
    columns = (*HASHED, "prev_hash", "hash")
    insert = f"INSERT INTO {EVENTS_TABLE} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    prev, rows, marks = GENESIS, [], []
    for seq in range(1, events + 1):
        pay, amount = f"pay_{(seq + 1) // 2:016x}", 1000 + seq // 2 % 997
        created = seq % 2 == 1
        event = {"seq": seq, "at": 1_800_000_000.0 + seq / 1000, "actor": "merchant_1", "scope": "payments:write",
                 "correlation_id": f"corr-{seq:016x}", "entity": "payment", "entity_id": pay,
                 "action": "authorize" if created else "capture",
                 "before": None if created else canonical_state({"state": "authorized", "provider_status": "approved"}),
                 "after": canonical_state({"state": "authorized", "amount_minor": amount, "currency": "EUR",
                                           "provider": "acme", "reference": f"order-{seq}"} if created else
                                          {"state": "captured", "provider_status": "captured",
                                           "captured_at": 1_800_000_000.0 + seq / 1000})}
        digest = event_hash(prev, event)
        rows.append((*(event[k] for k in HASHED), prev, digest))
        prev = digest
        if seq % 1000 == 0:
            marks.append((seq, digest))
        if len(rows) == 50_000:
            db.executemany(insert, rows)
            rows = []
    db.executemany(insert, rows)
    db.execute(f"UPDATE {HEAD_TABLE} SET seq = ?, hash = ? WHERE id = 1", (events, prev))
    db.commit()
    db.close()
    return marks


def measure_verify(events: int, ledger: str | None) -> None:
    from moneypath.check.runbooks import open_database
    from moneypath.protocol.audit.chain import HEAD_TABLE, verify_database
    from moneypath.protocol.audit.checkpoint import (
        Checkpoint,
        CheckpointDir,
        Publisher,
        Signer,
        Verifier,
        generate_key,
        marks,
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(ledger) if ledger else Path(tmp) / "ledger.db"
        engine = None
        if path.exists():
            engine = open_database(f"sqlite:///{path}")
            with engine.connect() as conn:
                held = conn.exec_driver_sql(f"SELECT seq FROM {HEAD_TABLE} WHERE id = 1").scalar()
            if held != events:
                raise SystemExit(f"bench_audit: --ledger {path} holds {held} events, not {events}; remove it")
            with engine.connect() as conn:  # the hashes at every 1,000th seq, for the checkpoints
                signed = [tuple(r) for r in conn.exec_driver_sql("SELECT seq, hash FROM audit_events WHERE seq % 1000 = 0")]
        else:
            start = time.perf_counter()
            signed = build_ledger(path, events)
            print(f"built a ledger of {events:,} audit events in {time.perf_counter() - start:.1f} s ({path})")
            engine = open_database(f"sqlite:///{path}")
        start, cpu = time.perf_counter(), time.process_time()
        with engine.connect() as conn:
            verdict = verify_database(conn)
        wall, used = time.perf_counter() - start, time.process_time() - cpu
        print(f"full verify, one process (audit verify --db URL --jobs 1): {verdict.line()} in {wall:.2f} s wall, "
              f"{used:.2f} s CPU ({wall / max(1, verdict.events) * 1e6:.2f} µs per event; goal ≤ 10 s for 1,000,000)")
        jobs = min(4, os.cpu_count() or 1)
        start = time.perf_counter()
        with engine.connect() as conn:
            verdict = verify_database(conn, spans=spans_in_processes(f"sqlite:///{path}"), workers=jobs)
        wall = time.perf_counter() - start
        print(f"full verify, {jobs} processes (audit verify --db URL, the default): {verdict.line()} in {wall:.2f} s "
              "wall")
        signer, public = generate_key("bench")
        publisher = Publisher(Signer(signer), CheckpointDir(Path(tmp) / "checkpoints"))
        for seq, digest in signed:
            publisher.directory.publish(publisher.signer.sign(Checkpoint("bench", seq, digest, 1_800_000_000).body()),
                                        seq)
        start = time.perf_counter()
        checkpoints = CheckpointDir(Path(tmp) / "checkpoints").read(Verifier(public))
        read = time.perf_counter() - start
        with engine.connect() as conn:
            through = verify_database(conn, marks=marks(checkpoints), spans=spans_in_processes(f"sqlite:///{path}"),
                                      workers=jobs)
        wall = time.perf_counter() - start
        engine.dispose()
        print(f"full verify through {len(checkpoints):,} signed checkpoints (audit verify --checkpoints): "
              f"{'intact' if through.intact else through.line()} in {wall:.2f} s wall, of which reading and checking "
              f"the checkpoints {read:.2f} s ({read / max(1, len(checkpoints)) * 1e6:.0f} µs each)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu-per-auth-ms", type=float, default=1.0)
    parser.add_argument("--postgres", metavar="URL", help="also measure on this (empty) PostgreSQL database")
    parser.add_argument("--verify-events", type=int, default=1_000_000, help="events in the full-verify ledger")
    parser.add_argument("--ledger", metavar="PATH", help="keep the full-verify ledger here (reused when it exists)")
    args = parser.parse_args()
    if args.verify_events > 0:
        measure_verify(args.verify_events, args.ledger)
    if args.bookings <= 0:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        report("SQLite", *measure(f"sqlite:///{Path(tmp) / 'ledger.db'}", args.bookings, args.rounds),
               args.cpu_per_auth_ms)
    if args.postgres:
        report("PostgreSQL", *measure(args.postgres, args.bookings, args.rounds), args.cpu_per_auth_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
