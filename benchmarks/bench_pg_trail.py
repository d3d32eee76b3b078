"""The audit trail's share of the reference service's CPU per booking on PostgreSQL, side by side (figures, not
pass/fail): issue 32's "the trail costs <= 5 % of service CPU per booking".

    .venv/bin/python benchmarks/bench_pg_trail.py [--rate 100] [--seconds 10] [--rounds 3] [--workers 1]
        [--pin/--no-pin] [--compare SRC] [--save FILE] [--summarize FILE ...]

A throwaway PostgreSQL cluster (moneypath.stack.pgserver, durable: fsync and synchronous_commit on, as in
production) and the provider simulator (answering at once) on loopback; each round starts the real service
(`python -m moneypath.reference.refservice`, benchmarks/bench_service.py's Stack, instrumented, with its
background jobs) on a fresh database, trail on, then trail off, alternating, so drift on a shared machine hits
both alike. The load is fixed and open loop: --rate payments per second, each an authorization then its
capture on the same keep-alive connection (two bookings: payments.create, payments.mark_captured), started
every 1/rate s whatever is outstanding. After a warm-up, the measured phase reads the service's process CPU
(all its threads, every worker with --workers) and divides it by the bookings answered (every 201 of an
authorization, declined or held included, and every 200 of a capture).

"Trail off" is for measurement only, no setting of the service: a sitecustomize on the service's PYTHONPATH
patches, in every worker, audit.Audited.count to the booking statement alone, audit.append to a no-op and
audit.seal to nothing (the same transactions without their events; the chain's watch then walks an empty
chain). "Trail on" is the service as shipped: the event in the booking's statement, the seal job every second.

Steadier figures on a small shared machine (the service's CPU per booking swings with what shares its core):
--pin (the default with 2 or more CPUs, said in the output) runs the service, every thread and worker, on one
CPU (--service-cpu, default the first the benchmark may use) and PostgreSQL, the simulator and the load
generator on the others (sched_setaffinity; children inherit it). The order of the variants rotates from round
to round, so none always runs first. --compare SRC adds a variant "base": the service (trail on) run from
another source tree, e.g. main's (`git archive main src | tar -x -C /tmp/main`, then --compare /tmp/main/src),
put first on the service's PYTHONPATH; it is paired with the same round's "off" as "on" is: two versions side
by side, same session, same rounds. --save FILE appends each round as a JSON line; --summarize FILE...
prints the summary of saved rounds without running (several runs, each short enough to share the machine,
summarized as one).

Printed: each round's figures, then medians and the paired verdict: per round, trail share = (on - off) / on of
the service's CPU per booking (what the trail costs of the service's CPU), the median of the rounds' shares (goal
<= 5 %) and their spread (min, median, max: the machine's noise, seen). The PostgreSQL server's CPU per booking
(its processes, not the service's) is shown beside it: the trail moves work into the database too; "parked": the
share of the events a booking parked because another transaction held the chain (audit.py), warm-up included. At
the end the last "trail on" database is verified as `moneypath audit verify` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from benchmarks.bench_instrument import Connection  # noqa: E402
from benchmarks.bench_service import Load, Stack, cpu_seconds, process_tree  # noqa: E402
from benchmarks.processes import free_port  # noqa: E402
from moneypath.protocol import tokens  # noqa: E402
from moneypath.protocol.audit.chain import EVENTS_TABLE, PENDING_TABLE  # noqa: E402
from moneypath.stack import pgserver  # noqa: E402

# The service's "trail off": imported by every interpreter the service starts (its --workers too).
TRAIL_OFF = '''
from moneypath.reference.refservice.audit import trail as audit
audit.Audited.count = lambda self, conn, params, *event, **kw: self.plain.count(conn, params)
audit.append = lambda conn, *args, **kw: {}
audit.seal = lambda engine: 0
'''


BOOKED = ("authorized", "captured", "booked, not authorized")  # each a booking (payments.create, mark_captured)


class Payments(Load):
    """Open-loop authorize + capture (Load's open loop and connections, `send` is a payment): request bytes built
    with one %-format each, so the generator stays cheap."""

    def __init__(self, port: int, token: str):
        super().__init__(port, requests=None)
        self.n, self.run_id = 0, secrets.token_hex(4).encode()
        auth = b"Authorization: Bearer " + token.encode() + b"\r\n"
        self.authorize = (b"POST /v1/payments/authorize HTTP/1.1\r\nHost: bench\r\n" + auth
                          + b"Content-Type: application/json\r\nIdempotency-Key: a-" + self.run_id
                          + b"-%d\r\nContent-Length: %d\r\n\r\n")
        self.capture = (b"POST /v1/payments/%s/capture HTTP/1.1\r\nHost: bench\r\n" + auth
                        + b"Idempotency-Key: c-" + self.run_id + b"-%d\r\nContent-Length: 0\r\n\r\n")

    async def send(self, conn: Connection, scheduled: float) -> Connection:
        """Authorize, then capture what was authorized; the connection to use next (a fresh one after a failure)."""
        self.n += 1
        n = self.n
        body = (b'{"amount_minor": %d, "currency": "EUR", "provider": "%s", "reference": "pgtrail-%s-%d"}'
                % (1000 + n % 997, (b"acme", b"globex")[n & 1], self.run_id, n))
        try:
            status, answer = await asyncio.wait_for(conn.request(self.authorize % (n, len(body)) + body), 30)
            self.latencies.append(time.perf_counter() - scheduled)
            if status != 201 or b'"state": "authorized"' not in answer:  # a 201 declined or held is booked too
                self.outcomes["booked, not authorized" if status == 201 else f"authorize {status}"] += 1
                return conn
            self.outcomes["authorized"] += 1
            payment_id = answer.split(b'"id": "', 1)[1].split(b'"', 1)[0]
            started = time.perf_counter()
            status, answer = await asyncio.wait_for(conn.request(self.capture % (payment_id, n)), 30)
            self.latencies.append(time.perf_counter() - started)
            self.outcomes["captured" if status == 200 else f"capture {status}"] += 1
            return conn
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
            self.outcomes[type(exc).__name__] += 1
            conn.writer.close()
            return await self.connect()


def tree_cpu(pid: int) -> float:
    total = 0.0
    for p in process_tree(pid):
        try:
            total += cpu_seconds(p)
        except OSError:  # exited in between
            pass
    return total


def pin(pids: list[int], cpus: set[int]) -> None:
    """Every thread of `pids` onto `cpus` (threads and processes they start later inherit it)."""
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:  # exited
            continue
        for tid in tids:
            try:
                os.sched_setaffinity(int(tid), cpus)
            except OSError:
                pass


def one_round(base: Path, server: pgserver.PostgresServer, variant: str, args, secret: str, token: str) -> dict:
    """A fresh database and service (variant: "on", "off" or "base", the --compare tree with the trail on);
    warm-up, then the measured phase. Its figures."""
    trail = variant != "off"
    name = server.create_database()
    workdir = base / f"{name}-{variant}"
    workdir.mkdir()
    env = {"MONEYPATH_DB_URL": server.url(name)}
    path = [os.environ.get("PYTHONPATH", "")]
    if variant == "base":
        path.insert(0, str(Path(args.compare).resolve()))
    if not trail:
        patch = workdir / "trail-off"
        patch.mkdir()
        (patch / "sitecustomize.py").write_text(TRAIL_OFF)
        path.insert(0, str(patch))
    if variant != "on":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, path))
    stack = Stack(workdir, "on", secret, workers=args.workers, service_env=env)
    try:
        if args.pin:
            pin(process_tree(stack.service.proc.pid), {args.service_cpu})
        load = Payments(stack.port, token)
        asyncio.run(load.open(args.rate, args.warmup))  # discarded: connections, statement caches, JIT-free warm
        load.reset()
        postmaster = server.postmaster_pid()
        svc0, db0, sim0, gen0, t0 = stack.service.cpu(), tree_cpu(postmaster), stack.sim.cpu(), time.process_time(), \
            time.perf_counter()
        asyncio.run(load.open(args.rate, args.seconds))
        wall = time.perf_counter() - t0
        svc, db, sim, gen = (stack.service.cpu() - svc0, tree_cpu(postmaster) - db0, stack.sim.cpu() - sim0,
                             time.process_time() - gen0)
    finally:
        stack.stop()
    # How many events were parked (written to audit_pending first) of all chained, warm-up included.
    time.sleep(0.5)  # the backends' statistics, flushed as they exit
    with psycopg.connect(server.conninfo(name)) as conn:
        parked = conn.execute("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = %s",
                              (PENDING_TABLE,)).fetchone()[0]
        events = conn.execute(f"SELECT count(*) FROM {EVENTS_TABLE}").fetchone()[0]
    bookings = sum(load.outcomes[k] for k in BOOKED)
    q = statistics.quantiles(load.latencies, n=100) if len(load.latencies) > 1 else [float("nan")] * 99
    return {"variant": variant, "trail": trail, "db": name, "bookings_s": bookings / wall, "bookings": bookings,
            "errors": sum(n for k, n in load.outcomes.items() if k not in BOOKED),
            "outcomes": dict(load.outcomes), "p50": q[49] * 1000, "p99": q[98] * 1000,
            "svc_us": svc / max(bookings, 1) * 1e6, "db_us": db / max(bookings, 1) * 1e6,
            "svc_pct": svc / wall * 100, "db_pct": db / wall * 100, "sim_pct": sim / wall * 100,
            "gen_pct": gen / wall * 100, "parked": parked / max(events, 1)}


def line(r: dict) -> str:
    return (f"{r['variant']:<4} {r['bookings_s']:5.0f} bookings/s  p50 {r['p50']:5.1f} ms  "
            f"p99 {r['p99']:6.1f} ms  errors {r['errors']:>3}  service {r['svc_us']:5.0f} µs/booking "
            f"({r['svc_pct']:3.0f} % of a core)  PostgreSQL {r['db_us']:4.0f} µs/booking ({r['db_pct']:3.0f} %)  "
            f"sim {r['sim_pct']:3.0f} %  gen {r['gen_pct']:3.0f} %" + (f"  parked {r['parked']:.0%}" if r["trail"] else ""))


def chain_line(server: pgserver.PostgresServer, name: str) -> str:
    from moneypath.protocol.audit.chain import verify_database
    from moneypath.reference.refservice.db import make_engine

    engine = make_engine(server.url(name))
    try:
        with engine.connect() as conn:
            return verify_database(conn).line()
    finally:
        engine.dispose()


def spread(values: list[float], fmt: str) -> str:
    return (f"min {format(min(values), fmt)}, median {format(statistics.median(values), fmt)}, "
            f"max {format(max(values), fmt)}")


def summarize(rounds: list[dict[str, dict]]) -> None:
    """Medians, per-round paired shares and their spread, for "on" (and "base") against each round's "off"."""
    variants = [v for v in ("base", "on") if all(v in r for r in rounds)]

    def med(variant: str, key: str) -> float:
        return statistics.median(r[variant][key] for r in rounds)

    print(f"\nmedians of {len(rounds)} rounds, service CPU per booking: "
          + ", ".join(f"{v} {med(v, 'svc_us'):.0f} µs" for v in (*variants, "off"))
          + "; PostgreSQL CPU per booking: " + ", ".join(f"{v} {med(v, 'db_us'):.0f} µs" for v in (*variants, "off"))
          + "; bookings/s: " + ", ".join(f"{v} {med(v, 'bookings_s'):.0f}" for v in (*variants, "off"))
          + "; p99: " + ", ".join(f"{v} {med(v, 'p99'):.1f} ms" for v in (*variants, "off")))
    for v in variants:
        added = [r[v]["svc_us"] - r["off"]["svc_us"] for r in rounds]
        shares = [(r[v]["svc_us"] - r["off"]["svc_us"]) / r[v]["svc_us"] for r in rounds]
        db_added = [r[v]["db_us"] - r["off"]["db_us"] for r in rounds]
        parked = [r[v]["parked"] for r in rounds]
        share = statistics.median(shares)
        print(f"{v}: the trail per round (paired with the round's off): service "
              f"{', '.join(f'{a:+.0f}' for a in added)} µs per booking = {', '.join(f'{s:+.1%}' for s in shares)} "
              f"of the service's CPU per booking; PostgreSQL {', '.join(f'{a:+.0f}' for a in db_added)} µs; "
              f"parked {', '.join(f'{p:.0%}' for p in parked)}")
        print(f"{v}: the trail's share of the service's CPU per booking: {share:.1%} (median of {len(shares)} paired "
              f"rounds; spread {spread(shares, '.1%')}; goal <= 5 %: {'met' if share <= 0.05 else 'NOT met'}"
              f"{', every round' if max(shares) <= 0.05 else ''}); PostgreSQL +{statistics.median(db_added):.0f} µs "
              f"per booking (median)")
    if len(variants) == 2:
        diff = [r["on"]["svc_us"] - r["base"]["svc_us"] for r in rounds]
        print(f"on - base, service CPU per booking per round: {', '.join(f'{d:+.0f}' for d in diff)} µs "
              f"({spread(diff, '+.0f')} µs)")
    others = [f"{v} {k} {n}" for r in rounds for v, res in r.items() for k, n in res["outcomes"].items()
              if k not in BOOKED]
    print(f"other answers (errors): {'; '.join(others) or 'none'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0,
                        help="payments per second, open loop (two bookings each; default %(default)s)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured per round (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=2.0, help="discarded per round (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each variant once (default %(default)s)")
    parser.add_argument("--workers", type=int, default=1, help="service processes (--workers; default %(default)s)")
    allowed = sorted(os.sched_getaffinity(0))
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=len(allowed) >= 2,
                        help="the service on one CPU, everything else on the others (default: on with 2+ CPUs)")
    parser.add_argument("--service-cpu", type=int, default=allowed[0], help="the service's CPU with --pin "
                        "(default %(default)s)")
    parser.add_argument("--compare", metavar="SRC", help="another source tree's src/ to run as variant 'base'")
    parser.add_argument("--save", metavar="FILE", help="append each round as a JSON line")
    parser.add_argument("--summarize", metavar="FILE", nargs="+", help="summarize saved rounds; run nothing")
    args = parser.parse_args()
    if args.summarize:
        rounds = [json.loads(text) for f in args.summarize for text in Path(f).read_text().splitlines() if text]
        for i, r in enumerate(rounds):
            for res in r.values():
                print(f"  round {i + 1} {line(res)}")
        summarize(rounds)
        return 0
    if args.compare and not (Path(args.compare) / "moneypath").is_dir():
        parser.error(f"--compare {args.compare}: no moneypath package there")
    others = set(allowed) - {args.service_cpu}
    if args.pin:
        if not others or args.service_cpu not in allowed:
            parser.error(f"--pin needs 2 CPUs, the service's among them (allowed: {allowed})")
        os.sched_setaffinity(0, others)  # PostgreSQL, the simulator and the services start from here: inherited
    variants = ["on", "off", *(["base"] if args.compare else [])]
    secret = secrets.token_hex(32)
    token = tokens.issue(secret.encode(), "bench", ["payments:write"], ttl_s=3600)
    rounds: list[dict[str, dict]] = []
    try:
        with pgserver.running_server(free_port, pgserver.DURABLE) as server, \
                tempfile.TemporaryDirectory(prefix="bench-pg-trail-") as tmp:
            placement = (f"pinned: the service on CPU {args.service_cpu}, PostgreSQL, simulator and load on "
                         f"{','.join(map(str, sorted(others)))}" if args.pin else "not pinned")
            print(f"PostgreSQL on 127.0.0.1:{server.port} (fsync, synchronous_commit on); service with "
                  f"{args.workers} worker(s), instrumented; open loop {args.rate:g} payments/s (authorize + capture: "
                  f"{2 * args.rate:g} bookings/s), {args.warmup:g} s warm-up + {args.seconds:g} s measured per round; "
                  f"{os.cpu_count()} cores shared by everything, {placement}; variants {', '.join(variants)}"
                  + (f" (base: {args.compare})" if args.compare else ""))
            for i in range(args.rounds):
                pair = {}
                for variant in variants[i % len(variants):] + variants[:i % len(variants)]:
                    r = one_round(Path(tmp), server, variant, args, secret, token)
                    print(f"  round {i + 1} {line(r)}", flush=True)
                    pair[variant] = r
                rounds.append(pair)
                if args.save:
                    with open(args.save, "a") as out:
                        out.write(json.dumps(pair) + "\n")
            chain = chain_line(server, rounds[-1]["on"]["db"])
    except pgserver.Unavailable as exc:
        print(f"bench_pg_trail: PostgreSQL unavailable: {exc}", file=sys.stderr)
        return 1
    summarize(rounds)
    print(f"the last trail-on database after the service stopped: {chain}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
