"""Bookings per second on one PostgreSQL with 1, 2 and 4 service processes, with and without the audit trail
(figures, not pass/fail).

    .venv/bin/python benchmarks/bench_pg_bookings.py [--seconds 10] [--processes 1 2 4] [--cpu-per-auth-ms 1.0]

A throwaway PostgreSQL cluster on a free loopback port (moneypath._common.pgserver, with PostgreSQL's
durable defaults: fsync and synchronous_commit on, so a commit waits for its WAL flush as in production),
stopped and deleted at the end. Each cell gets a fresh database; N worker processes each book as fast as
they can for --seconds through the reference service's own booking code on the service's engine
(db.make_engine, payments.create then payments.mark_captured, one transaction each, as booking.py commits
them): two bookings per payment. "Trail off" replaces audit.append with a no-op, the same transactions
without the event. Cells alternate on/off so drift on a shared machine hits both alike.

Printed per cell: bookings/s (all processes together) and the service's CPU per booking (the workers'
process CPU time / their bookings; the database server's CPU is not in it), then what the trail adds per
booking, as a share of the booking transaction and of the service's whole CPU per authorization
(--cpu-per-auth-ms, benchmarks/bench_service.py's figure; goal <= 5 %). After each trail-on cell the chain
is verified as `moneypath audit verify` does (events the last bookings parked show as pending), then what was
parked is sealed as the service's job would, and verified again.

To compare two versions of the code, run it from one tree with PYTHONPATH=<other tree>/src.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import socket
import sys
import time
from pathlib import Path

if not __package__ and importlib.util.find_spec("moneypath") is None:  # as a script: moneypath from this tree
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))  # (PYTHONPATH=other/src compares)

from moneypath._common import pgserver  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(url: str, trail: bool, start_at: float, seconds: float, tag: str, results) -> None:
    """Book until the deadline; put (bookings, CPU seconds) on `results`."""
    from moneypath.reference.refservice import audit, payments
    from moneypath.reference.refservice.db import make_engine

    if not trail:
        audit.append = lambda *a, **k: None  # the same transactions without the event
    engine = make_engine(url)

    def pay(i: int) -> None:
        with engine.begin() as conn:
            row = payments.create(conn, principal="merchant_1", kind="payment", state="authorized", provider="acme",
                                  method="card", amount_minor=1000 + i % 997, currency="EUR", reference=f"{tag}-{i}",
                                  provider_ref=f"acme_{tag}_{i}", provider_status="approved", risk_decision="approve")
        with engine.begin() as conn:
            payments.mark_captured(conn, row, "captured")

    with audit.acting("merchant_1", "payments:write"):
        for i in range(20):  # warm: connection, statement caches
            pay(-1 - i)
        time.sleep(max(0.0, start_at - time.time()))
        deadline, done, cpu = start_at + seconds, 0, time.process_time()
        while time.time() < deadline:
            pay(done)
            done += 1
        cpu = time.process_time() - cpu
    engine.dispose()
    results.put((2 * done, cpu))


def cell(server: pgserver.PostgresServer, processes: int, trail: bool, seconds: float) -> tuple[float, float, str]:
    """(bookings/s, CPU seconds per booking, the chain's verdict line) for one cell on a fresh database."""
    from moneypath._common.audit_chain import verify_database
    from moneypath.reference.refservice.db import make_engine

    name = server.create_database()
    url = server.url(name)
    make_engine(url).dispose()  # the schema, once, before the workers race to create it
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    start_at = time.time() + 3.0  # after every worker has imported and warmed up
    procs = [spawn.Process(target=worker, args=(url, trail, start_at, seconds, f"w{p}", results))
             for p in range(processes)]
    for p in procs:
        p.start()
    got = [results.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    bookings, cpu = sum(n for n, _ in got), sum(c for _, c in got)
    verdict = ""
    if trail:
        from moneypath.reference.refservice import audit

        engine = make_engine(url)
        with engine.connect() as conn:
            verdict = verify_database(conn).line()
        seal = getattr(audit, "seal", None)  # what the service's seal job does (absent before the trail parked)
        if seal is not None and (sealed := seal(engine)):
            with engine.connect() as conn:
                verdict += f"; {sealed} sealed: {verify_database(conn).line()}"
        engine.dispose()
    server.drop_database(name)
    return bookings / seconds, cpu / max(1, bookings), verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured per cell (default %(default)s)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4], help="default %(default)s")
    parser.add_argument("--cpu-per-auth-ms", type=float, default=1.0,
                        help="the service's whole CPU per authorization (default %(default)s)")
    args = parser.parse_args()
    try:
        with pgserver.running_server(free_port, pgserver.DURABLE) as server:
            print(f"PostgreSQL on 127.0.0.1:{server.port} (fsync, synchronous_commit on); {args.seconds:g} s per cell")
            print(f"{'processes':>9} | {'trail on: bookings/s':>20} {'CPU µs/booking':>15} | "
                  f"{'trail off: bookings/s':>21} {'CPU µs/booking':>15} | trail adds (CPU)")
            for n in args.processes:
                on_rate, on_cpu, verdict = cell(server, n, True, args.seconds)
                off_rate, off_cpu, _ = cell(server, n, False, args.seconds)
                added = on_cpu - off_cpu
                print(f"{n:>9} | {on_rate:>20.0f} {on_cpu * 1e6:>15.0f} | {off_rate:>21.0f} {off_cpu * 1e6:>15.0f} | "
                      f"{added * 1e6:.0f} µs = {added / off_cpu * 100:.0f} % of the booking, "
                      f"{added * 1e3 / args.cpu_per_auth_ms * 100:.1f} % of {args.cpu_per_auth_ms:g} ms per "
                      f"authorization; throughput x{on_rate / off_rate:.2f}  [{verdict}]", flush=True)
    except pgserver.Unavailable as exc:
        print(f"bench_pg_bookings: PostgreSQL unavailable: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
