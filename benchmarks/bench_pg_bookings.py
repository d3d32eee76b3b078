"""Bookings per second on one PostgreSQL with 1, 2 and 4 service processes, with and without the audit trail
(figures, not pass/fail).

    .venv/bin/python benchmarks/bench_pg_bookings.py [--seconds 4] [--rounds 3] [--processes 1 2 4]
                                                     [--cpu-per-auth-ms 1.0]

A throwaway PostgreSQL cluster on a free loopback port (moneypath.stack.pgserver, with PostgreSQL's
durable defaults: fsync and synchronous_commit on, so a commit waits for its WAL flush as in production),
stopped and deleted at the end. Up to 4 worker processes, started once on one database, each with the
service's engine (db.make_engine), book as fast as they can through the reference service's own booking code
(payment_state.create then payment_state.mark_captured, one transaction each, as booking.py commits them: two
bookings per payment). A cell is N of them booking for --seconds; "trail off" replaces audit.append with a
no-op and runs an audit.Audited booking statement without its event (the same transactions without the
event); "trail on" also runs the service's seal job every second in each worker, its CPU counted. Rounds
repeat every cell, trail on and off alternating, so drift on a shared machine hits both alike; the table shows
medians, then each round's figures.

Printed per cell: bookings/s (the N processes together) and the service's CPU per booking (the workers'
process CPU time / their bookings; the database server's CPU is not in it), then what the trail adds per
booking, as a share of the booking transaction and of the service's whole CPU per authorization
(--cpu-per-auth-ms, benchmarks/bench_service.py's figure; goal <= 5 %), and the throughput ratio on/off.
"lock wait": the share of the N processes' time their transactions spent waiting for a lock (pg_stat_activity
sampled every 20 ms): what serializes them, in a figure that a busy shared machine blurs far less than
bookings/s.
At the end the chain is verified as `moneypath audit verify` does (events the last bookings parked show as
pending), then sealed as the service's job would, and verified again.

To compare two versions of the code, run it from one tree with PYTHONPATH=<other tree>/src.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

if not __package__:  # as a script: `benchmarks` importable, and moneypath from this tree unless PYTHONPATH gives
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # another (PYTHONPATH=other/src compares)
    if importlib.util.find_spec("moneypath") is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import psycopg  # noqa: E402

from benchmarks.processes import free_port  # noqa: E402
from moneypath.reference.refservice.db import make_engine  # noqa: E402
from moneypath.stack import pgserver  # noqa: E402


def worker(url: str, tag: str, commands, results) -> None:
    """One service process: its own engine; books for each ("run", trail, start_at, seconds) command until the
    deadline and puts (bookings, CPU seconds) on `results`; stops at None."""
    from moneypath.reference.refservice import payment_state
    from moneypath.reference.refservice.audit import trail as audit
    from moneypath.reference.refservice.db import make_engine

    real, engine, paid = audit.append, make_engine(url), 0
    audited = getattr(audit, "Audited", None)  # absent in the code before bookings carried their event
    real_count = audited.count if audited is not None else None

    def unaudited(self, conn, params, *event):  # Audited.count without the event: the booking statement alone
        return self.plain.count(conn, params)

    seal = getattr(audit, "seal", None)  # the service's job, every second in every process (SEAL_INTERVAL_S)

    def pay() -> None:
        nonlocal paid
        paid += 1
        with engine.begin() as conn:
            row = payment_state.create(conn, payment_state.PaymentRow(
                principal="merchant_1", kind="payment", state="authorized", provider="acme", method="card",
                amount_minor=1000 + paid % 997, currency="EUR", reference=f"{tag}-{paid}",
                provider_ref=f"acme_{tag}_{paid}", provider_status="approved", risk_decision="approve"))
        with engine.begin() as conn:
            payment_state.mark_captured(conn, row, "captured")

    with audit.acting("merchant_1", "payments:write"):
        for _ in range(20):  # warm: connection, statement caches
            pay()
        results.put(None)  # ready
        while (command := commands.get()) is not None:
            _, trail, start_at, seconds = command
            audit.append = real if trail else (lambda *a, **k: None)  # the same transactions without the event
            if audited is not None:
                audited.count = real_count if trail else unaudited
            time.sleep(max(0.0, start_at - time.time()))
            deadline, done, cpu = start_at + seconds, 0, time.process_time()
            sealed_at = time.time()
            while time.time() < deadline:
                pay()
                done += 2
                if trail and seal is not None and time.time() - sealed_at >= 1.0:  # its CPU counts as the trail's
                    seal(engine)
                    sealed_at = time.time()
            results.put((done, time.process_time() - cpu))
    engine.dispose()


class Workers:
    """`count` worker processes on one database, started once and given one cell at a time."""

    def __init__(self, url: str, count: int):
        spawn = multiprocessing.get_context("spawn")
        self.results = spawn.Queue()
        self.commands = [spawn.Queue() for _ in range(count)]
        self.procs = [spawn.Process(target=worker, args=(url, f"w{i}", q, self.results), daemon=True)
                      for i, q in enumerate(self.commands)]
        for p in self.procs:
            p.start()
        for _ in self.procs:
            self.results.get(timeout=120)

    def cell(self, processes: int, trail: bool, seconds: float, conninfo: str) -> tuple[float, float, float]:
        """(bookings/s of `processes` workers together, their CPU seconds per booking, the share of their
        time spent waiting for a lock: sampled from pg_stat_activity, so drift in CPU does not blur it)."""
        start_at = time.time() + 0.3
        for q in self.commands[:processes]:
            q.put(("run", trail, start_at, seconds))
        waiting, samples = 0, 0
        with psycopg.connect(conninfo, autocommit=True) as conn:
            time.sleep(max(0.0, start_at - time.time()))
            while time.time() < start_at + seconds:
                waiting += conn.execute(LOCK_WAITS).fetchone()[0]
                samples += 1
                time.sleep(0.02)
        got = [self.results.get(timeout=seconds + 60) for _ in range(processes)]
        bookings = sum(n for n, _ in got)
        return bookings / seconds, sum(c for _, c in got) / max(1, bookings), waiting / max(1, samples) / processes

    def stop(self) -> None:
        for q in self.commands:
            q.put(None)
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()


# Backends of this database waiting for a lock (a row's, a transaction's, an advisory one) right now.
LOCK_WAITS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
              "AND wait_event_type = 'Lock'")


def chain_line(url: str) -> str:
    """The chain as `moneypath audit verify` sees it, then sealed as the service's job would and seen again."""
    from moneypath.protocol.audit.chain import verify_database
    from moneypath.reference.refservice.audit import trail as audit
    from moneypath.reference.refservice.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        line = verify_database(conn).line()
    seal = getattr(audit, "seal", None)  # absent in the code before bookings could park their event
    if seal is not None and (sealed := seal(engine)):
        with engine.connect() as conn:
            line += f"; {sealed} sealed: {verify_database(conn).line()}"
    engine.dispose()
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured per cell and round (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, cells alternating (default %(default)s)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4], help="default %(default)s")
    parser.add_argument("--cpu-per-auth-ms", type=float, default=1.0,
                        help="the service's whole CPU per authorization (default %(default)s)")
    args = parser.parse_args()
    try:
        with pgserver.running_server(free_port, pgserver.DURABLE) as server:
            name = server.create_database()
            url = server.url(name)
            make_engine(url).dispose()  # the schema, once, before the workers race to create it
            workers = Workers(url, max(args.processes))
            print(f"PostgreSQL on 127.0.0.1:{server.port} (fsync, synchronous_commit on); {args.rounds} rounds of "
                  f"{args.seconds:g} s per cell, trail on and off alternating; medians")
            cells: dict[tuple[int, bool], list[tuple[float, float, float]]] = {}
            try:
                for _ in range(args.rounds):
                    for n in args.processes:
                        for trail in (True, False):
                            cells.setdefault((n, trail), []).append(
                                workers.cell(n, trail, args.seconds, server.conninfo(name)))
            finally:
                workers.stop()
            print(f"{'processes':>9} | {'trail on: bookings/s':>20} {'CPU µs/booking':>15} {'lock wait':>9} | "
                  f"{'trail off: bookings/s':>21} {'CPU µs/booking':>15} {'lock wait':>9} | trail adds (CPU)")
            for n in args.processes:
                (on_rate, on_cpu, on_wait), (off_rate, off_cpu, off_wait) = (
                    tuple(statistics.median(cell[i] for cell in cells[n, t]) for i in range(3)) for t in (True, False))
                added = on_cpu - off_cpu
                print(f"{n:>9} | {on_rate:>20.0f} {on_cpu * 1e6:>15.0f} {on_wait:>9.0%} | {off_rate:>21.0f} "
                      f"{off_cpu * 1e6:>15.0f} {off_wait:>9.0%} | {added * 1e6:.0f} µs = {added / off_cpu * 100:.0f} % "
                      f"of the booking, {added * 1e3 / args.cpu_per_auth_ms * 100:.1f} % of {args.cpu_per_auth_ms:g} "
                      f"ms per authorization; throughput x{on_rate / off_rate:.2f}", flush=True)
            print("per round, bookings/s on/off: " + "; ".join(
                f"{n}p " + " ".join(f"{a[0]:.0f}/{b[0]:.0f}" for a, b in zip(cells[n, True], cells[n, False]))
                for n in args.processes))
            print(chain_line(url))
    except pgserver.Unavailable as exc:
        print(f"bench_pg_bookings: PostgreSQL unavailable: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
