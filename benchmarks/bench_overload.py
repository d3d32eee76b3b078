"""The reference service above saturation: does it degrade or collapse? (figures, not pass/fail)

    .venv/bin/python benchmarks/bench_overload.py [--overload 3] [--seconds 60] [--recovery 30] [--rounds 1]

Each round, on a fresh stack (benchmarks/bench_service.py's Stack: provider simulator + service on a new
SQLite ledger), with admission control on and off (MONEYPATH_ADMISSION), alternating:

  saturation  closed loop, 32 connections, authorizations back to back (15 s): what the service can do
  normal      open loop at --normal x saturation (10 s); its payments are captured during the overload
  overload    open loop at --overload x saturation for --seconds, like clients that give up after
              --client-timeout s (a new connection whenever none is free, as many clients would); beside
              it, captures of the normal phase's payments at 20/s (money in motion)
  recovery    back to --normal x saturation for --recovery s; recovered = the first second from which every
              later second has no refusal, no timeout and p99 under the latency objective
  after       the saturation's closed loop again (15 s), same process: goodput is shown against it too, so
              a cost that grew within the round (the ledger's growth, a slower machine, a background job
              that ran then) is told apart from the overload's

and reads: goodput (requests answered 201/200 per second: the authorizations and the captures beside them, as the
capacity plan counts successful responses; a capture costs the service as much as an authorization or more, 4.9
against 4.0-4.7 ms at 200/s here) as a share of saturation, and the authorizations' alone, refusals (503) and
how fast they came, client timeouts, the admitted p99 against the catalog's latency objective, captures
refused against authorizations refused, payments booked that no client got an answer for, whether
every acknowledged payment is in the ledger, and the kernel's counters over the overload (handshakes refused by a
full accept queue, retransmissions: a timeout on a request the service never read). --timeline prints each second.
--pin puts the service alone on one core beside a probe of that core's speed (benchmarks/core_speed.py) and shows
goodput also at the saturation's core speed: on a VM a core's speed moves by a third from one minute to the next.

Goals (issue 27), admission on: goodput >= 90 % of saturation (aim 95 %), admitted p99 under the latency
objective, refusals fast and never a timeout, captures admitted before new authorizations, no acknowledged
write lost, every gate holds again within 30 s of the load dropping back.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

if not __package__:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_instrument import Connection, open_loop  # noqa: E402
from benchmarks.bench_service import ROOT, Authorizations, Load, Stack, measure, process_tree  # noqa: E402
from benchmarks.core_speed import CoreSpeed, pin  # noqa: E402
from moneypath.catalog import load_catalog  # noqa: E402
from moneypath.formats.scenarios import latency_slo  # noqa: E402
from moneypath.protocol import tokens  # noqa: E402

MAX_CONNECTIONS = 4000


class Phase:
    """Tallies of one open-loop phase, per second of its schedule."""

    def __init__(self):
        self.outcomes: Counter = Counter()
        self.admitted_ms: list[float] = []  # authorizations answered 201
        self.refused_ms: list[float] = []  # 503s
        self.per_second: dict[int, dict] = defaultdict(lambda: {"ok_ms": [], "bad": 0, "outcomes": Counter()})
        self.ids: list[str] = []
        self.timeouts_connecting = 0
        self.start = time.perf_counter()  # its schedule's second 0


class Client:
    """Keep-alive connections to the service; a new one whenever none is free (up to MAX_CONNECTIONS)."""

    def __init__(self, port: int, token: str, timeout_s: float):
        self.port, self.timeout_s = port, timeout_s
        self.auths = Authorizations(token)
        self.token = token.encode()
        self.idle: list[Connection] = []
        self.open = 0
        self.opened = 0  # connections set up, ever

    async def _conn(self) -> Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if not conn.reader.at_eof():
                return conn
            # The service closed it after its keep-alive timeout (uvicorn: 5 s idle), as any HTTP client's pool
            # finds out; reusing it would count the client's stale connection as the service's failure.
            conn.writer.close()
            self.open -= 1
        if self.open >= MAX_CONNECTIONS:
            return None
        self.open += 1
        self.opened += 1
        try:
            return Connection(*await asyncio.open_connection("127.0.0.1", self.port))
        except BaseException:  # refused, or the client gave up while connecting: no connection to count
            self.open -= 1
            raise

    async def send(self, raw: bytes, scheduled: float, phase: Phase, start: float, kind: str) -> None:
        second, conn = int(scheduled - start), None
        try:
            conn = await asyncio.wait_for(self._conn(), max(0.001, scheduled + self.timeout_s - time.perf_counter()))
            if conn is None:
                raise ConnectionRefusedError("client connection cap")
            status, body = await asyncio.wait_for(conn.request(raw),
                                                  max(0.001, scheduled + self.timeout_s - time.perf_counter()))
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            outcome = f"{kind} timeout" if isinstance(exc, TimeoutError) else f"{kind} {type(exc).__name__}"
            phase.outcomes[outcome] += 1
            if conn is None and isinstance(exc, TimeoutError):
                phase.timeouts_connecting += 1  # never got a connection: set-up, not the service's answer
                outcome += " (connecting)"
            phase.per_second[second]["bad"] += 1
            phase.per_second[second]["outcomes"][outcome] += 1
            if conn is not None:  # the client gave up on this connection, or it failed
                conn.writer.close()
                self.open -= 1
            return
        self.idle.append(conn)
        ms = (time.perf_counter() - scheduled) * 1000
        phase.outcomes[f"{kind} {status}"] += 1
        phase.per_second[second]["outcomes"][f"{kind} {status}"] += 1
        if status == 503:
            phase.refused_ms.append(ms)
            phase.per_second[second]["bad"] += 1
        elif kind == "authorize" and status == 201:
            phase.admitted_ms.append(ms)
            phase.per_second[second]["ok_ms"].append(ms)
            payment = json.loads(body)
            if payment.get("state") == "authorized":
                phase.ids.append(payment["id"])

    def capture(self, payment_id: str) -> bytes:
        return (b"POST /v1/payments/%s/capture HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\n"
                b"Idempotency-Key: cap-%s\r\nContent-Length: 0\r\n\r\n" % (payment_id.encode(), self.token,
                                                                            payment_id.encode()))

    async def run(self, rate: float, seconds: float, captures: list[str] | None = None) -> Phase:
        phase = Phase()
        start = phase.start

        async def authorize(scheduled: float) -> None:
            await self.send(self.auths(), scheduled, phase, start, "authorize")

        jobs = [open_loop(rate, seconds, authorize)]
        if captures:
            pending = iter(captures)

            async def capture(scheduled: float) -> None:
                payment_id = next(pending, None)
                if payment_id is not None:
                    await self.send(self.capture(payment_id), scheduled, phase, start, "capture")

            jobs.append(open_loop(min(20.0, len(captures) / seconds), seconds, capture))
        await asyncio.gather(*jobs)
        return phase

    def close(self) -> None:
        for conn in self.idle:
            conn.writer.close()


def _proc_counter(path: str, group: str, name: str) -> int:
    rows = [row.split() for row in Path(path).read_text().splitlines() if row.startswith(group + ":")]
    return int(rows[1][rows[0].index(name)])


def kernel_drops() -> tuple[int, int, int]:
    """Since boot: packets the kernel dropped from its input backlog (all CPUs; loopback's too), connections it
    dropped because a listening socket's accept queue was full, and TCP segments it retransmitted. A dropped SYN,
    handshake or request waits for a retransmission (1 s, then 3 s, 7 s for a SYN), so a client timeout can be
    the test rig's or the accept queue's, not the service's answer (zeros where /proc does not say)."""
    try:
        drops = sum(int(row.split()[1], 16) for row in Path("/proc/net/softnet_stat").read_text().splitlines())
        return (drops, _proc_counter("/proc/net/netstat", "TcpExt", "ListenOverflows"),
                _proc_counter("/proc/net/snmp", "Tcp", "RetransSegs"))
    except (OSError, ValueError, IndexError):
        return 0, 0, 0


def booked_payments(db_path: Path) -> int:
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT COUNT(*) FROM payments WHERE kind = 'payment'").fetchone()[0]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop, the cheaper loop for this client: at 3x saturation it shares the two cores with the service, and
    what its loop spends per request is taken from the service (--client-loop asyncio compares)."""
    import uvloop

    return uvloop.new_event_loop()


class LoopLag:
    """How late the client's own timers fire: past ~50 ms the client, not the service, delays the answers."""

    def __init__(self, every_s: float = 0.02):
        self.every_s, self.lags_ms = every_s, []
        self.task = asyncio.get_running_loop().create_task(self._probe())

    async def _probe(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(self.every_s)
            self.lags_ms.append(max(0.0, time.perf_counter() - asked - self.every_s) * 1000)

    def stop(self) -> None:
        self.task.cancel()

    def p99_ms(self) -> float:
        return p99(self.lags_ms)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else float("nan")


def recovered_after(phase: Phase, objective_ms: float, seconds: int) -> float | None:
    """The first second from which every later second is clean (no refusal or timeout, p99 under the
    objective); None if the last one is not."""
    clean = [phase.per_second[s]["bad"] == 0 and not (p99(phase.per_second[s]["ok_ms"]) > objective_ms)
             for s in range(seconds)]
    if not clean or not clean[-1]:
        return None
    first = len(clean)
    while first > 0 and clean[first - 1]:
        first -= 1
    return float(first)


def timeline(name: str, phase: Phase, speed: CoreSpeed | None) -> list[str]:
    """Per second of a phase's schedule: what the clients got (to see where a tail or a slow recovery comes from)
    and, with --pin, the service's core speed (ms per probe walk)."""
    rows = []
    for second in sorted(phase.per_second):
        tally = phase.per_second[second]
        got = ", ".join(f"{k} {n}" for k, n in sorted(tally["outcomes"].items()))
        core = "" if speed is None else f"core {speed.mean_ms(phase.start + second, phase.start + second + 1):5.2f}; "
        rows.append(f"    {name} {second:>3} s: {core}p99 {p99(tally['ok_ms']):>6.0f} ms; {got}")
    return rows


ALL_CPUS = os.sched_getaffinity(0)


def pinned(stack: Stack) -> CoreSpeed:
    """--pin: the service (every thread, and its audit walker) alone on the first CPU with a probe of that core's
    speed, the simulator and this client on the others."""
    first, *rest = sorted(ALL_CPUS)
    for pid in process_tree(stack.service.proc.pid):
        pin(pid, {first})
    for pid in [*process_tree(stack.sim.proc.pid), os.getpid()]:
        pin(pid, set(rest))
    return CoreSpeed(first)


def one_round(workdir: Path, condition: str, args, secret: str, token: str, objective_ms: float) -> dict:
    workdir.mkdir()
    stack = Stack(workdir, "on", secret, service_env={"MONEYPATH_ADMISSION": condition})
    speed = None
    # The client's own collector paused it: gen-2 collections grew with what it had tallied, to 150 ms each
    # (10 in a 30 s overload, 1.1 s in all), and the service sat idle meanwhile, for want of requests. Its
    # objects are freed by reference counting, so it runs without the collector from the saturation on.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        if args.pin:
            speed = pinned(stack)
        load = Load(stack.port, Authorizations(token))
        measure(stack, load, lambda: load.closed(32, 2))  # warm-up, discarded
        t_saturation = time.perf_counter()
        closed = measure(stack, load, lambda: load.closed(32, 15))
        t_saturation = (t_saturation, time.perf_counter())
        saturation = closed["rps"]
        client = Client(stack.port, token, args.client_timeout)
        booked_before = booked_payments(workdir / "ledger.db")  # the saturation runs' payments were all answered

        async def phases():
            before_normal, opened0 = stack.cpu()["service"], client.opened
            normal = await client.run(saturation * args.normal, 10)
            lag = LoopLag()
            cpu0, t0, kernel0 = stack.cpu(), time.perf_counter(), kernel_drops()
            opened1 = client.opened
            over = await client.run(saturation * args.overload, args.seconds, captures=normal.ids)
            wall, cpu1, kernel1 = time.perf_counter() - t0, stack.cpu(), kernel_drops()
            lag.stop()
            opened = {"normal": opened1 - opened0, "overload": client.opened - opened1}
            cpu_per_request = {"normal": (cpu0["service"] - before_normal) / max(1, sum(normal.outcomes.values())),
                               "overload": (cpu1["service"] - cpu0["service"]) / max(1, sum(over.outcomes.values()))}
            recovery = await client.run(saturation * args.normal, args.recovery)
            client.close()
            cores = {k: (cpu1[k] - cpu0[k]) / wall * 100 for k in ("service", "loop", "sim", "gen")}
            kernel = {name: after - before for name, before, after in
                      zip(("dropped", "accept_overflows", "retransmitted"), kernel0, kernel1, strict=True)}
            return normal, over, recovery, cores, lag.p99_ms(), kernel, opened, cpu_per_request, (t0, t0 + wall)

        with asyncio.Runner(loop_factory=new_event_loop if args.client_loop == "uvloop" else None) as runner:
            normal, over, recovery, cores, client_lag_ms, kernel, opened, per_request, t_overload = runner.run(phases())
        booked_by_phases = booked_payments(workdir / "ledger.db")
        # The same closed loop again: what the same process can do after, so that a cost that grew within the round
        # (the ledger's growth, a slower machine, a background job that ran then) is told apart from the overload's.
        t_after = time.perf_counter()
        after = measure(stack, load, lambda: load.closed(32, 15))
        t_after = (t_after, time.perf_counter())
        core_ms = {} if speed is None else {"core_saturation_ms": speed.mean_ms(*t_saturation),
                                            "core_overload_ms": speed.mean_ms(*t_overload),
                                            "core_after_ms": speed.mean_ms(*t_after)}
    finally:
        gc.enable()
        gc.unfreeze()
        stack.stop()
        if speed is not None:
            speed.stop()
        if args.pin:
            pin(os.getpid(), ALL_CPUS)
    acknowledged = [*normal.ids, *over.ids, *recovery.ids]
    booked = booked_by_phases - booked_before
    with sqlite3.connect(workdir / "ledger.db") as db:
        present = sum(db.execute("SELECT COUNT(*) FROM payments WHERE id = ?", (pid,)).fetchone()[0]
                      for pid in acknowledged)
    answered_201 = sum(n for k, n in (normal.outcomes + over.outcomes + recovery.outcomes).items()
                       if k == "authorize 201")
    o = over.outcomes
    auths = sum(n for k, n in o.items() if k.startswith("authorize"))
    caps = sum(n for k, n in o.items() if k.startswith("capture"))
    return {"saturation": saturation, "saturation_after": after["rps"], "offered": saturation * args.overload,
            "goodput": (o["authorize 201"] + o["capture 200"]) / args.seconds,
            "share": (o["authorize 201"] + o["capture 200"]) / args.seconds / saturation,
            "auth_goodput": o["authorize 201"] / args.seconds,
            "refused": o["authorize 503"], "refused_p99_ms": p99(over.refused_ms),
            "timeouts": o["authorize timeout"] + o["capture timeout"], "timeouts_connecting": over.timeouts_connecting,
            "other_errors": sum(n for k, n in o.items() if not k.endswith((" 201", " 200", " 503", " timeout"))),
            "admitted_p99_ms": p99(over.admitted_ms), "authorize_refused_share": o["authorize 503"] / max(auths, 1),
            "capture_refused_share": o["capture 503"] / max(caps, 1), "captures": caps,
            "unanswered_booked": booked - answered_201, "lost": len(acknowledged) - present,
            "recovered_s": recovered_after(recovery, objective_ms, int(args.recovery)), "service_cpu": cores["service"],
            "loop_cpu": cores["loop"], "saturation_cpu": closed["service_cpu"], "saturation_loop_cpu": closed["loop_cpu"],
            "saturation_cpu_us": closed["cpu_ms"] * 1000, "after_cpu_us": after["cpu_ms"] * 1000,
            "normal_cpu_us": per_request["normal"] * 1e6,
            "overload_cpu_us": per_request["overload"] * 1e6, "opened_normal": opened["normal"],
            "opened_overload": opened["overload"], "sim_cpu": cores["sim"], "client_cpu": cores["gen"],
            "client_lag_p99_ms": client_lag_ms, **kernel, **core_ms,
            "timeline": [*timeline("overload", over, speed), *timeline("recovery", recovery, speed)]}


def line(r: dict, objective_ms: float) -> str:
    recovered = "never" if r["recovered_s"] is None else f"{r['recovered_s']:.0f} s"
    return (f"saturation {r['saturation']:.0f}/s, offered {r['offered']:.0f}/s: goodput {r['goodput']:.0f}/s "
            f"({r['share']:.0%} of saturation; {r['goodput'] / r['saturation_after']:.0%} of the "
            f"{r['saturation_after']:.0f}/s the same process did after the recovery; authorizations alone "
            f"{r['auth_goodput']:.0f}/s, {r['auth_goodput'] / r['saturation']:.0%}), admitted p99 "
            f"{r['admitted_p99_ms']:.0f} ms (objective "
            f"{objective_ms:.0f}), refused {r['refused']} (p99 {r['refused_p99_ms']:.1f} ms), client timeouts "
            f"{r['timeouts']} ({r['timeouts_connecting']} while connecting), other errors {r['other_errors']}; "
            f"captures refused {r['capture_refused_share']:.0%} "
            f"of {r['captures']} vs authorizations {r['authorize_refused_share']:.0%}; booked without an answer "
            f"{r['unanswered_booked']}; acknowledged but lost {r['lost']}; recovered after {recovered}; "
            f"CPU (% of a core) service {r['service_cpu']:.0f} (its loop's thread {r['loop_cpu']:.0f}; at saturation "
            f"{r['saturation_cpu']:.0f} and {r['saturation_loop_cpu']:.0f}); the service's CPU per request answered: "
            f"saturation {r['saturation_cpu_us']:.0f} µs (after: {r['after_cpu_us']:.0f} µs), "
            f"normal {r['normal_cpu_us']:.0f} µs, overload (refusals "
            f"included) {r['overload_cpu_us']:.0f} µs; connections set up: normal {r['opened_normal']}, overload "
            f"{r['opened_overload']}; simulator {r['sim_cpu']:.0f}, this benchmark's "
            f"client {r['client_cpu']:.0f} (its loop's lag p99 {r['client_lag_p99_ms']:.0f} ms); kernel during the "
            f"overload: {r['dropped']} packets dropped from its input backlog, {r['accept_overflows']} connections "
            f"from a full accept queue, {r['retransmitted']} TCP segments retransmitted{at_core_speed(r)}")


def at_core_speed(r: dict) -> str:
    """--pin: how fast the service's core ran in each phase, and goodput at the saturation's speed."""
    if "core_overload_ms" not in r:
        return ""
    slower = r["core_overload_ms"] / r["core_saturation_ms"]
    return (f"; the service's core (a probe beside it, ms per walk): saturation {r['core_saturation_ms']:.2f}, "
            f"overload {r['core_overload_ms']:.2f}, after {r['core_after_ms']:.2f}: goodput at the saturation's core "
            f"speed {r['share'] * slower:.0%} of saturation, at the after's "
            f"{r['goodput'] / r['saturation_after'] * r['core_overload_ms'] / r['core_after_ms']:.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--overload", type=float, default=3.0, help="offered load as a multiple of saturation "
                        "(default %(default)s)")
    parser.add_argument("--normal", type=float, default=0.6, help="the normal load before and after, as a share of "
                        "saturation (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=60.0, help="overload length (default %(default)s)")
    parser.add_argument("--recovery", type=float, default=30.0, help="normal load after it (default %(default)s)")
    parser.add_argument("--client-timeout", type=float, default=5.0, help="clients give up after this (default "
                        "%(default)s s)")
    parser.add_argument("--client-loop", choices=("uvloop", "asyncio"), default="uvloop",
                        help="the client's event loop (default %(default)s)")
    parser.add_argument("--timeline", action="store_true", help="print what the clients got in each second of "
                        "the overload and the recovery")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per condition (default %(default)s)")
    parser.add_argument("--conditions", default="on,off", help="admission control on, off or both (default "
                        "%(default)s)")
    parser.add_argument("--pin", action="store_true", help="the service alone on the first CPU with a probe of that "
                        "core's speed, the rest on the others: goodput is also shown at the saturation's core speed "
                        "(benchmarks/core_speed.py: on a VM the core's speed moves from one minute to the next)")
    args = parser.parse_args()
    if args.pin and len(ALL_CPUS) < 2:
        raise SystemExit("bench_overload: --pin needs two CPUs or more")
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    if (not conditions or set(conditions) - {"on", "off"} or args.overload <= 1 or not 0 < args.normal < 1
            or min(args.seconds, args.recovery, args.rounds) <= 0):
        raise SystemExit("bench_overload: --conditions is on and/or off, --overload > 1, 0 < --normal < 1, "
                         "--seconds, --recovery and --rounds > 0")
    found = latency_slo(load_catalog(ROOT / "moneypath.yaml"))
    objective_ms = found[1].sli.latency.under * 1000 if found else 300.0
    secret = secrets.token_hex(32)
    token = tokens.issue(secret.encode(), "bench", ["payments:write"], ttl_s=3600)
    print(f"{args.rounds} round(s) per condition ({', '.join(conditions)}), each on a fresh stack: saturation (closed "
          f"loop 15 s), normal {args.normal:g}x for 10 s, overload {args.overload:g}x for {args.seconds:g} s (clients "
          f"give up after {args.client_timeout:g} s), normal again for {args.recovery:g} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-overload-") as tmp:
        for i in range(args.rounds):
            for condition in conditions:
                r = one_round(Path(tmp) / f"{i}-{condition}", condition, args, secret, token, objective_ms)
                print(f"  round {i + 1} admission {condition:<3} {line(r, objective_ms)}", flush=True)
                if args.timeline:
                    print("\n".join(r["timeline"]), flush=True)


if __name__ == "__main__":
    main()
