"""How long after an answer the service's authorizations counter shows the call in Prometheus, on the local stack
(`moneypath up --fast`: 1 s scrapes), and whether any scrape missed a call already answered (figures, not
pass/fail; docs/decisions/0025-conservation-of-counts.md).

    .venv/bin/python benchmarks/scrape_lag.py [--calls 150] [--state-dir /tmp/scrape-lag]

Starts the local stack on the shipped catalog, sends --calls authorizations one at a time (0.1-0.4 s apart) and
records when each was sent and answered, while a thread polls Prometheus every 20 ms for the counter's newest
sample. Then reads the counter's raw samples (their scrape times) over the run. Calls go one at a time, so the
counter counts them in answer order; for the i-th call:

- sample lag: the first scrape time whose value includes it, minus its answer time (at most one scrape interval
  when the service counts before it answers);
- visible lag: the first poll that returned a value including it, minus its answer time (scrape interval plus
  ingestion): what a reader waits after a window's end;
- misses: a scrape at time t that counted fewer calls than were answered before t (the service counting after
  it answered), and by how much t passed the answer: the clock skew the bounds must allow.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--state-dir", default="/tmp/moneypath-scrape-lag")
    args = parser.parse_args()

    from moneypath.catalog import load_catalog
    from moneypath.protocol.tokens import issue
    from moneypath.stack import local as stack
    from moneypath.stack.spec import StackSpec

    catalog = load_catalog(ROOT / "moneypath.yaml")
    metric = catalog.metric("authorizations_total")
    state_dir = Path(args.state_dir).resolve()
    stack.down(state_dir, progress=lambda *_: None)
    state = stack.up(catalog, state_dir, StackSpec(fast=True, services=True, faults=True, time_factor=60),
                     progress=lambda *_: None)
    try:
        secret = stack.read_secrets(state_dir)["token_secret"].encode()
        token = issue(secret, "lag", ["payments:write", "payments:read"], ttl_s=3600)
        prom, service = state.url("prometheus"), state.url("refservice")
        client = httpx.Client(base_url=service, headers={"authorization": f"Bearer {token}"}, timeout=10)
        q = httpx.Client(base_url=prom, timeout=5)

        def instant(expr: str) -> list:
            return q.get("/api/v1/query", params={"query": expr}).json()["data"]["result"]

        def call(i: int) -> tuple[float, float]:
            body = {"amount_minor": 1000 + i, "currency": "EUR", "provider": "acme", "method": "card",
                    "reference": f"lag-{i}"}
            sent = time.time()
            r = client.post("/v1/payments/authorize", json=body, headers={"idempotency-key": f"lag-{i}-{sent}"})
            answered = time.time()
            r.raise_for_status()
            if r.json().get("risk_decision") in ("decline", "hold"):  # screened out: not an authorization counted
                return sent, float("nan")
            return sent, answered

        for i in range(5):  # warm up: connection pools, the first writes
            call(-1 - i)
        time.sleep(2.5)
        polls: list[tuple[float, float]] = []  # (poll time, visible value)
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                result = instant(f"sum({metric})")
                polls.append((time.time(), float(result[0]["value"][1]) if result else 0.0))
                time.sleep(0.02)

        base = float(instant(f"sum({metric})")[0]["value"][1])
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        start = time.time()
        calls = []
        for i in range(args.calls):
            calls.append(call(i))
            time.sleep(random.uniform(0.1, 0.4))
        time.sleep(3)
        stop.set()
        poller.join()
        end = time.time()
        raw = instant(f"{metric}[{int(end - start) + 5}s]")
        samples: dict[float, float] = {}
        for series in raw:
            for t, v in series["values"]:
                samples[float(t)] = samples.get(float(t), 0.0) + float(v)
        times = sorted(t for t in samples if t >= start - 1)
        answered = [a for _, a in calls if a == a]
        sample_lag, visible_lag, misses = [], [], []
        for i, a in enumerate(answered, start=1):
            first = next((t for t in times if samples[t] - base >= i), None)
            seen = next((t for t, v in polls if v - base >= i), None)
            if first is not None:
                sample_lag.append(first - a)
            if seen is not None:
                visible_lag.append(seen - a)
        for t in times:
            before = [a for a in answered if a <= t]
            counted = samples[t] - base
            if counted < len(before):
                misses.append(t - before[int(counted)])
        gaps = [b - a for a, b in zip(times, times[1:])]
        print(f"calls {len(calls)} ({len(answered)} of them counted by the service), scrapes {len(times)}, "
              f"scrape interval median {statistics.median(gaps):.3f} s")
        print(f"sample lag (scrape time - answer): median {statistics.median(sample_lag):.3f} s, "
              f"p99 {pct(sample_lag, 0.99):.3f} s, max {max(sample_lag):.3f} s")
        print(f"visible lag (seen in the query API - answer): median {statistics.median(visible_lag):.3f} s, "
              f"p99 {pct(visible_lag, 0.99):.3f} s, max {max(visible_lag):.3f} s")
        print(f"scrapes that missed an answered call: {len(misses)}"
              + (f", by at most {max(misses) * 1000:.0f} ms after the answer" if misses else ""))
        client.close()
        q.close()
    finally:
        stack.down(state_dir, progress=lambda *_: None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
