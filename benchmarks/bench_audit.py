"""What the audit trail costs per booking (figures, not pass/fail).

    .venv/bin/python benchmarks/bench_audit.py [--bookings 2000] [--rounds 5] [--postgres URL]

The booking transaction of an authorization (payments.create in one transaction, as booking.py commits
it) on a fresh SQLite ledger, with the audit append (one hash-chained event: read and lock the head,
insert, advance the head) and with the append replaced by a no-op; rounds alternate so drift on a shared
machine hits both alike. CPU is this process's (time.process_time: the fsync wait at each commit is not
CPU); the share is of the service's whole CPU per authorization, measured end to end by
benchmarks/bench_service.py (--cpu-per-auth-ms, default 1.0 ms: the README's figure at 300/s; DESIGN.md's
older end-to-end figure is 3.1 ms). Goal: ≤ 5 %.
With --postgres the same runs on that database as well (the head row lock serializes bookings there:
what it costs in throughput under concurrency is not measured here).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from moneypath.reference.refservice import audit, payments  # noqa: E402
from moneypath.reference.refservice.db import make_engine  # noqa: E402


def book(engine, n: int, tag: str) -> float:
    """CPU seconds per booking over n bookings."""
    start = time.process_time()
    with audit.acting("merchant_1", "payments:write"):
        for i in range(n):
            with engine.begin() as conn:
                payments.create(conn, principal="merchant_1", kind="payment", state="authorized", provider="acme",
                                method="card", amount_minor=1000 + i, currency="EUR", reference=f"{tag}-{i}",
                                provider_ref=f"acme_{tag}_{i}", provider_status="approved", risk_decision="approve")
    return (time.process_time() - start) / n


def measure(url: str, bookings: int, rounds: int) -> tuple[list[float], list[float]]:
    engine = make_engine(url)
    real = audit.append
    with_audit, without = [], []
    try:
        book(engine, 200, "warm")
        for r in range(rounds):
            with_audit.append(book(engine, bookings, f"a{r}"))
            payments.audit.append = lambda *a, **k: None  # the same transaction without the event
            try:
                without.append(book(engine, bookings, f"n{r}"))
            finally:
                payments.audit.append = real
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu-per-auth-ms", type=float, default=1.0)
    parser.add_argument("--postgres", metavar="URL", help="also measure on this (empty) PostgreSQL database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report("SQLite", *measure(f"sqlite:///{Path(tmp) / 'ledger.db'}", args.bookings, args.rounds),
               args.cpu_per_auth_ms)
    if args.postgres:
        report("PostgreSQL", *measure(args.postgres, args.bookings, args.rounds), args.cpu_per_auth_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
