"""Instrumentation cost, measured side by side in one run (figures, not pass/fail).

    .venv/bin/python benchmarks/bench_instrument.py [--quick] [--micro] [--otel-json]

Each micro benchmark interleaves the library and its bare prometheus-client equivalent
(pre-bound children) over several repeats and reports the median of each and their
ratio against the goal from the foundation issue. The endpoint benchmark starts a real
uvicorn service on loopback and scrapes it once a second from another process.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path

import yaml
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from moneypath.catalog import parse_catalog
from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.instrument.exposition import collection_registry, render
from moneypath.instrument.otel import OtelBackend

ROOT = Path(__file__).resolve().parent.parent
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def catalog_with_providers(n: int):
    data = yaml.safe_load((ROOT / "moneypath.yaml").read_text())
    data["providers"] = {f"psp{i:02d}": {"display_name": f"Provider {i}"} for i in range(n)}
    data["cost"]["provider_fees"] = {}
    return parse_catalog(yaml.safe_dump(data), f"moneypath.yaml (+{n} providers)")


def bare_metrics(catalog, registry):
    """The same metrics as plain prometheus-client objects, pre-bound: the floor to compare to."""
    def make(key):
        s = catalog.signals[key]
        if s.type == "histogram":
            return Histogram(s.name, s.help, s.label_names, registry=registry, buckets=s.buckets)
        return Counter(s.name, s.help, s.label_names, registry=registry)
    keys = ("authorization_duration_seconds", "authorizations_total", "ledger_writes_total",
            "ledger_write_duration_seconds", "cost_usd_total")
    m = {k: make(k) for k in keys}
    return (m["authorization_duration_seconds"].labels("acme", "card", "approved"),
            m["authorizations_total"].labels("acme", "card", "approved"),
            m["ledger_writes_total"].labels("committed"),
            m["ledger_write_duration_seconds"],
            m["cost_usd_total"].labels("provider_fee", "acme"))


def interleaved(variants: dict, number: int, repeats: int) -> dict[str, float]:
    """Median µs per call of each variant, runs interleaved so drift hits all alike."""
    runs = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            runs[name].append(timeit.timeit(fn, number=number) / number * 1e6)
    return {name: statistics.median(v) for name, v in runs.items()}


def row(label, lib, bare, goal, unit="µs"):
    ratio = lib / bare
    verdict = "meets" if ratio <= goal else "MISSES"
    print(f"  {label:<58} {lib:7.2f} {unit} vs {bare:6.2f} {unit}  = {ratio:4.2f}x  (goal ≤ {goal}x: {verdict})")


def micro(number: int, repeats: int) -> None:
    catalog = parse_catalog((ROOT / "moneypath.yaml").read_text())
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    hist, count, ledger_count, ledger_hist, cost = bare_metrics(catalog, CollectorRegistry())
    tracer = TracerProvider().get_tracer("bench")
    exemplar = {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331"}

    def bare_auth():
        hist.observe(0.12)
        count.inc()

    def bare_auth_exemplar():
        hist.observe(0.12, exemplar)
        count.inc()

    def lib_auth():
        mp.record_authorization("acme", "card", "approved", 0.12)

    def bare_event():
        hist.observe(0.12)
        count.inc()
        ledger_count.inc()
        ledger_hist.observe(0.004)
        cost.inc(0.13)

    def lib_event():
        mp.record_authorization("acme", "card", "approved", 0.12)
        mp.record_ledger_write("committed", 0.004)
        mp.add_cost("provider_fee", 0.13, "acme")

    print(f"Hot path (median of {repeats} interleaved runs × {number:,} calls, Python {sys.version.split()[0]})")
    r = interleaved({"bare": bare_auth, "lib": lib_auth}, number, repeats)
    row("authorization (latency + outcome), no trace", r["lib"], r["bare"], 1.3)
    with tracer.start_as_current_span("authorize"):
        r2 = interleaved({"lib": lib_auth, "bare_ex": bare_auth_exemplar}, number, repeats)
    row("authorization with exemplar, sampled span active", r2["lib"], r["bare"], 3.5)
    print(f"  {'   (bare prometheus-client with an exemplar: ' + format(r2['bare_ex'], '.2f') + ' µs)':<58}")
    r = interleaved({"bare": bare_event, "lib": lib_event}, number, repeats)
    row("money-path event (authorization + ledger write + cost)", r["lib"], r["bare"], 1.3)
    r = otel_costs(number // 2, repeats)
    row(f"OpenTelemetry path (SDK {r['sdk_version']}) authorization vs bare", r["otel"], r["bare"], OTEL_GOAL)
    row("   the same, histograms='sdk' (SDK instrument per call)", r["otel_sdk"], r["bare"], OTEL_GOAL)
    row("   raw OTel SDK histogram.record + counter.add, no library", r["raw"], r["bare"], OTEL_GOAL)
    print("  (per SDK version side by side: benchmarks/bench_otel_versions.py)")

    # A feature the catalog switches off (tests/foreign: no fraud, no webhooks): its methods are no-ops.
    foreign = MoneyPath(parse_catalog((ROOT / "tests" / "foreign" / "moneypath.yaml").read_text()),
                        PrometheusBackend(CollectorRegistry()))

    def nothing(*args, **kwargs):
        pass

    def off_feature():
        foreign.record_fraud_decision("approve", 0.1)
        foreign.count_webhook("komoju", "accepted")

    def empty_calls():
        nothing("approve", 0.1)
        nothing("komoju", "accepted")

    r = interleaved({"empty": empty_calls, "off": off_feature}, number, repeats)
    row("2 calls of a disabled feature vs 2 empty function calls", r["off"], r["empty"], 1.3)


OTEL_GOAL = 2.0  # issue 30: <= 2x a pre-bound bare prometheus-client histogram + counter (aim <= 1.5x)


def otel_costs(number: int, repeats: int) -> dict:
    """µs per authorization (one histogram observation + its count), interleaved: bare prometheus-client
    (pre-bound), moneypath's OTel backend (in-process histograms, the default), the same with the SDK's
    instrument per call, and the raw SDK instruments with no library."""
    from importlib.metadata import version

    catalog = parse_catalog((ROOT / "moneypath.yaml").read_text())
    hist, count, *_ = bare_metrics(catalog, CollectorRegistry())
    otel_mp = MoneyPath(catalog, OtelBackend(catalog.service, metric_readers=[InMemoryMetricReader()]))
    assert otel_mp.backend.histograms == "aggregated", otel_mp.backend.histograms_reason
    sdk_mp = MoneyPath(catalog, OtelBackend(catalog.service, metric_readers=[InMemoryMetricReader()],
                                            histograms="sdk"))
    raw_meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("raw")
    raw_hist = raw_meter.create_histogram("a", "s", explicit_bucket_boundaries_advisory=hist._upper_bounds[:-1])
    raw_count = raw_meter.create_counter("b")
    attrs = {"provider": "acme", "method": "card", "outcome": "approved"}

    def bare():
        hist.observe(0.12)
        count.inc()

    def otel():
        otel_mp.record_authorization("acme", "card", "approved", 0.12)

    def otel_sdk():
        sdk_mp.record_authorization("acme", "card", "approved", 0.12)

    def raw():
        raw_hist.record(0.12, attrs)
        raw_count.add(1, attrs)

    r = interleaved({"bare": bare, "otel": otel, "otel_sdk": otel_sdk, "raw": raw}, number, repeats)
    return {**r, "sdk_version": version("opentelemetry-sdk")}


def populated(providers: int) -> MoneyPath:
    """A MoneyPath with every declared label combination of every signal recorded once."""
    mp = MoneyPath(catalog_with_providers(providers), PrometheusBackend(CollectorRegistry()))
    for family in mp.families.values():
        for values in itertools.product(*(family.signal.labels[name] for name in family.order)):
            child = family.child(values)
            {"counter": lambda c: c.inc(), "histogram": lambda c: c.observe(0.1),
             "gauge": lambda c: c.set(1)}[family.signal.type](child)
    return mp


def exposition(repeats: int) -> None:
    registry = populated(10).registry
    lines = generate_latest(registry).count(b"\n")
    print(f"\n/metrics rendering, full catalog with 10 providers ({lines:,} sample lines, median of {repeats})")
    served = collection_registry(registry)  # exactly what MetricsApp renders
    r = interleaved({"plain": lambda: generate_latest(registry), "lib": lambda: render(served, "")}, 1, repeats)
    row("text format: moneypath render vs generate_latest", r["lib"] / 1000, r["plain"] / 1000, 1.1, "ms")
    r = interleaved({"plain": lambda: generate_openmetrics(registry),
                     "lib": lambda: render(served, OPENMETRICS)}, 1, repeats)
    row("OpenMetrics: moneypath render vs openmetrics.generate_latest", r["lib"] / 1000, r["plain"] / 1000, 1.1, "ms")


def endpoint(seconds: float) -> None:
    from benchmarks.processes import free_port

    print(f"\nTrivial instrumented endpoint, open-loop 300 req/s for {seconds:g} s, "
          f"with and without a 1 Hz scrape of /metrics (10 providers, all series populated)")
    results: dict[tuple, dict] = {}
    # Two alternating rounds per condition, best p99 of each kept: a VM hiccup in one round
    # must not decide the comparison.
    for mode in ("thread", "plain-thread", "server", "loop"):
        for scraped in (False, True, False, True):
            port, metrics_port = free_port(), free_port()
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            server = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "scrape_app.py"), mode, str(port),
                                       str(metrics_port)], env=env)
            try:
                got = _drive(port, metrics_port if mode == "server" else port, seconds, scraped)
            finally:
                server.terminate()
                server.wait(timeout=30)
            best = results.get((mode, scraped))
            if best is None or got["p99"] < best["p99"]:
                results[(mode, scraped)] = got
    labels = {"thread": "/metrics rendered in a worker thread (MetricsApp, default)",
              "plain-thread": "   same, without lowering the switch interval",
              "server": "/metrics on its own thread + port (start_metrics_server)",
              "loop": "/metrics rendered inside the event loop (naive)"}
    for mode, label in labels.items():
        base, hit = results[(mode, False)], results[(mode, True)]
        verdict = "meets" if hit["p99"] <= 3 * base["p99"] else "MISSES"
        print(f"  {label:<58} p99 {base['p99']:6.2f} → {hit['p99']:6.2f} ms = {hit['p99'] / base['p99']:4.2f}x  "
              f"(p50 {base['p50']:.2f} → {hit['p50']:.2f} ms, {hit['n']:,} requests, {hit['scrapes']} scrapes;"
              f" goal ≤ 3x: {verdict})")


class Connection:
    """A bare HTTP/1.1 keep-alive connection: the load generator must cost far less CPU than
    the service it measures, or its own queueing shows up as the service's latency."""

    REQUEST = b"POST /v1/payments/authorize HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\n\r\n"

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one complete request (the caller builds the bytes); the status and body of its
        response, which must carry a Content-Length (uvicorn's do)."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        return int(head[9:12]), await self.reader.readexactly(length)

    async def post(self) -> None:
        status, _ = await self.request(self.REQUEST)
        if status != 200:
            raise RuntimeError(f"HTTP {status}")


async def open_loop(rate: float, duration: float, one) -> None:
    """Start `one(scheduled)` every 1/rate s whatever is outstanding (it should measure latency
    from `scheduled`, a perf_counter time: no coordinated omission), then wait for all of them."""
    import asyncio

    tasks, start = [], time.perf_counter()
    for i in range(int(duration * rate)):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)


def _drive(port: int, metrics_port: int, seconds: float, scraped: bool, rate: float = 300.0) -> dict:
    """Open-loop load: a request every 1/rate s whatever is outstanding, latency measured from
    its scheduled time, so a stalled event loop shows up (no coordinated omission)."""
    import asyncio

    async def run() -> dict:
        deadline = time.monotonic() + 30
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("benchmark service did not start") from None
                await asyncio.sleep(0.1)
        pool: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(64):
            pool.put_nowait(Connection(*await asyncio.open_connection("127.0.0.1", port)))

        async def one(scheduled: float, latencies: list[float]) -> None:
            conn = await pool.get()
            try:
                await conn.post()
            finally:
                pool.put_nowait(conn)
            latencies.append((time.perf_counter() - scheduled) * 1000)

        warm_up: list[float] = []
        await open_loop(rate, 1.5, lambda scheduled: one(scheduled, warm_up))  # same rate, discarded
        scraper = None
        if scraped:
            scraper = subprocess.Popen([sys.executable, "-c", SCRAPER, str(metrics_port), str(seconds + 0.5)],
                                       stdout=subprocess.PIPE, text=True)
            await asyncio.sleep(0.3)
        latencies: list[float] = []
        await open_loop(rate, seconds, lambda scheduled: one(scheduled, latencies))
        scrapes = int(scraper.communicate(timeout=30)[0] or 0) if scraper else 0
        while not pool.empty():
            pool.get_nowait().writer.close()
        q = statistics.quantiles(latencies, n=100)
        return {"p50": q[49], "p99": q[98], "n": len(latencies), "scrapes": scrapes}

    return asyncio.run(run())


SCRAPER = """
import sys, time, httpx
port, seconds = int(sys.argv[1]), float(sys.argv[2])
n, end = 0, time.monotonic() + seconds
with httpx.Client(timeout=10) as c:
    while time.monotonic() < end:
        t = time.monotonic()
        c.get(f"http://127.0.0.1:{port}/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
        n += 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t)))
print(n)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a 3 s endpoint run (smoke test)")
    parser.add_argument("--micro", action="store_true", help="the hot-path micro benchmarks only (no rendering, "
                                                             "no endpoint)")
    parser.add_argument("--otel-json", action="store_true", help="print otel_costs() as JSON and stop "
                                                                    "(what bench_otel_versions.py runs in each venv)")
    args = parser.parse_args()
    number, repeats, seconds = (20_000, 5, 3.0) if args.quick else (200_000, 9, 10.0)
    if args.otel_json:
        import json

        print(json.dumps(otel_costs(number // 2, repeats)))
        return
    sys.path.insert(0, str(ROOT))
    micro(number, repeats)
    if args.micro:
        return
    exposition(3 if args.quick else 7)
    endpoint(seconds)


if __name__ == "__main__":
    main()
