"""Does any cost of the service grow with history? (figures, not pass/fail)

    .venv/bin/python benchmarks/bench_history.py [--events 1000000] [--rounds 2] [--seconds 30] [--rate 200]

Two conditions on the same code, rounds alternating so drift on a shared machine hits both alike:

  empty    a fresh SQLite ledger
  history  the same, pre-filled with --events hash-chained audit events and as many ledger postings
           (balanced pairs) as a long-running service would have: the tables its background checks read

Each round starts the provider simulator and the service (benchmarks/bench_service.py's Stack) with the
fast stack's settings, the worst case: the audit check every second (MONEYPATH_AUDIT_VERIFY_INTERVAL_S=1),
the ledger imbalance every 5 s. After a warm-up it sends authorizations open loop at --rate for --seconds
and reads the service's CPU per authorization (all its threads: the checks run off the event loop) and
the p99. Before the checks became incremental, each audit walk read every event: with 1,000,000 events
that is seconds of CPU per second, and the service fell over.

Goal (issue 27): CPU per authorization with history within 5 % of empty.
"""

from __future__ import annotations

import argparse
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_service import Authorizations, Load, Stack, measure  # noqa: E402
from moneypath.protocol import tokens  # noqa: E402
from moneypath.protocol.audit.chain import EVENTS_TABLE, GENESIS, HASHED, HEAD_TABLE, event_hash  # noqa: E402
from moneypath.reference.refservice.db import make_engine  # noqa: E402

FAST_CHECKS = {"MONEYPATH_AUDIT_VERIFY_INTERVAL_S": "1"}


def prefill(db: Path, events: int) -> float:
    """Write `events` chained audit events and as many postings into a new ledger; seconds taken."""
    started = time.perf_counter()
    make_engine(f"sqlite:///{db}").dispose()  # the schema, exactly as the service creates it
    conn = sqlite3.connect(db)
    columns = (*HASHED, "prev_hash", "hash")
    insert = f"INSERT INTO {EVENTS_TABLE} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    prev, batch, now = GENESIS, [], time.time() - 86_400
    for seq in range(1, events + 1):
        event = {"seq": seq, "at": now + seq / 100, "actor": "merchant_1", "scope": "payments:write",
                 "correlation_id": f"c{seq}", "entity": "payment", "entity_id": f"pay_{seq}", "action": "authorize",
                 "before": None, "after": f'{{"amount_minor":{1000 + seq % 5000},"state":"authorized"}}',
                 "prev_hash": prev}
        prev = event["hash"] = event_hash(prev, event)
        batch.append([event[c] for c in columns])
        if len(batch) == 50_000:
            conn.executemany(insert, batch)
            batch.clear()
    conn.executemany(insert, batch)
    conn.execute(f"UPDATE {HEAD_TABLE} SET seq = ?, hash = ? WHERE id = 1", (events, prev))
    conn.executemany("INSERT INTO ledger_transactions (id, payment_id, kind, created_at) VALUES (?, ?, 'capture', ?)",
                     ((i, f"pay_{i}", now) for i in range(1, events // 2 + 1)))
    conn.executemany("INSERT INTO ledger_postings (transaction_id, account, currency, amount_minor) VALUES (?, ?, ?, ?)",
                     ((i // 2 + 1, ("customer_funds", "merchant_receivable")[i % 2], "EUR", (-1, 1)[i % 2] * 1234)
                      for i in range(events // 2 * 2)))
    conn.commit()
    conn.close()
    return time.perf_counter() - started


def one_round(workdir: Path, condition: str, args, secret: str, token: str, seed: Path | None) -> dict:
    workdir.mkdir()
    if seed is not None:
        (workdir / "ledger.db").write_bytes(seed.read_bytes())
    stack = Stack(workdir, "on", secret, service_env=FAST_CHECKS)
    try:
        load = Load(stack.port, Authorizations(token))
        measure(stack, load, lambda: load.open(args.rate, args.warmup))  # discarded
        return measure(stack, load, lambda: load.open(args.rate, args.seconds))
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="audit events in the history condition "
                        "(default %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per condition (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured open loop (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=5.0, help="discarded open loop first (default %(default)s)")
    parser.add_argument("--rate", type=float, default=200.0, help="authorizations/s offered (default %(default)s)")
    args = parser.parse_args()
    if args.events < 1 or args.rounds < 1 or args.seconds <= 0 or args.rate <= 0:
        raise SystemExit("bench_history: --events, --rounds, --seconds and --rate must be positive")
    secret = secrets.token_hex(32)
    token = tokens.issue(secret.encode(), "bench", ["payments:write"], ttl_s=3600)
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        base = Path(tmp)
        seed = base / "seed.db"
        print(f"pre-filling a ledger with {args.events:,} audit events and {args.events // 2 * 2:,} postings ...",
              flush=True)
        print(f"  done in {prefill(seed, args.events):.1f} s ({seed.stat().st_size / 2**20:,.0f} MiB)")
        print(f"{args.rounds} round(s) per condition, alternating; each: {args.warmup:g} s warm-up, then "
              f"{args.seconds:g} s open loop at {args.rate:g} authorizations/s; audit check every 1 s")
        results: dict[str, list[dict]] = {"empty": [], "history": []}
        for i in range(args.rounds):
            for condition in results:
                r = one_round(base / f"{i}-{condition}", condition, args, secret, token,
                              seed if condition == "history" else None)
                results[condition].append(r)
                print(f"  round {i + 1} {condition:<7} served {r['rps']:6.1f}/s  p99 {r['p99']:7.1f} ms  "
                      f"errors {r['errors']:4d}  service CPU {r['service_cpu']:5.1f} %  "
                      f"{r['cpu_ms']:.3f} ms CPU per authorization", flush=True)
    ratios = [h["cpu_ms"] / e["cpu_ms"] for e, h in zip(results["empty"], results["history"], strict=True)]
    median = {c: statistics.median(r["cpu_ms"] for r in rs) for c, rs in results.items()}
    print(f"\nCPU per authorization: empty {median['empty']:.3f} ms, with {args.events:,} events "
          f"{median['history']:.3f} ms (median of rounds); paired ratio history/empty "
          f"{statistics.median(ratios):.3f} (rounds: {', '.join(f'{x:.3f}' for x in ratios)}); goal <= 1.05")


if __name__ == "__main__":
    main()
