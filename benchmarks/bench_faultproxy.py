"""What the fault proxy adds to a provider call with no fault set (figures, not pass/fail).

    .venv/bin/python benchmarks/bench_faultproxy.py [--seconds 20] [--rate 200] [--rounds 4] [--quick]

A tiny upstream (aiohttp, its own process, answering a small JSON body at once) stands in for a provider;
`python -m moneypath faultproxy` runs in front of it as a team would run it (the shipped catalog, both
providers pointing at the upstream, faults enabled but none set). The load is open loop: a request every
1/rate s whatever is outstanding, on pooled keep-alive connections, latency measured from its scheduled
time (no coordinated omission). Direct and proxied alternate in `rounds` slices of seconds/rounds each, so
drift on a shared machine hits both alike; each way gets `seconds` in all after a second of warm-up.
Printed: p50/p95/p99/max both ways, the p99 the proxy adds, and the CPU the proxy spent per request.

Goal (issue 16): the proxy adds at most 2 ms at p99 at 200 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_instrument import Connection, open_loop  # noqa: E402
from benchmarks.processes import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
GOAL_MS = 2.0
BODY = b'{"amount_minor":1999,"currency":"EUR","reference":"order-1"}'

UPSTREAM = """
import sys
from aiohttp import web
async def answer(request):
    await request.read()
    return web.json_response({"id": "auth_1", "status": "APPROVED"}, status=201)
app = web.Application()
app.router.add_route("*", "/{tail:.*}", answer)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def request_bytes(path: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n").encode() + BODY


async def wait_listening(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout_s:g} s") from None
            await asyncio.sleep(0.1)


class Way:
    """One way to the upstream (direct or through the proxy): a pool of keep-alive connections."""

    def __init__(self, name: str, port: int, path: str):
        self.name, self.port, self.raw = name, port, request_bytes(path)
        self.latencies_ms: list[float] = []
        self.errors = 0
        self.pool: asyncio.Queue[Connection] = asyncio.Queue()

    async def open(self, connections: int) -> None:
        for _ in range(connections):
            self.pool.put_nowait(Connection(*await asyncio.open_connection("127.0.0.1", self.port)))

    async def one(self, scheduled: float, record: bool) -> None:
        conn = await self.pool.get()
        try:
            status, _ = await conn.request(self.raw)
            if status != 201:
                self.errors += 1
        except (OSError, asyncio.IncompleteReadError):
            self.errors += 1
            conn = Connection(*await asyncio.open_connection("127.0.0.1", self.port))
        finally:
            self.pool.put_nowait(conn)
        if record:
            self.latencies_ms.append((time.perf_counter() - scheduled) * 1000)

    async def run(self, rate: float, seconds: float, record: bool = True) -> None:
        await open_loop(rate, seconds, lambda scheduled: self.one(scheduled, record))


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1] if len(values) > 1 else values[0]


async def measure(upstream_port: int, proxy_port: int, proxy_pid: int, rate: float, seconds: float,
                  rounds: int) -> tuple[Way, Way, float, int]:
    await wait_listening(upstream_port)
    await wait_listening(proxy_port)
    direct = Way("direct", upstream_port, "/v1/authorizations")
    proxied = Way("through the proxy", proxy_port, "/acme/v1/authorizations")
    for way in (direct, proxied):
        await way.open(32)
        await way.run(rate, 1.0, record=False)  # warm-up: connections, caches, the proxy's upstream pool
    cpu = 0.0
    for _ in range(rounds):
        for way in (direct, proxied):
            before = cpu_seconds(proxy_pid)
            await way.run(rate, seconds / rounds)
            if way is proxied:
                cpu += cpu_seconds(proxy_pid) - before
    return direct, proxied, cpu, len(proxied.latencies_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="measured seconds per way (default 20)")
    parser.add_argument("--rate", type=float, default=200, help="requests per second (default 200)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating slices per way (default 4)")
    parser.add_argument("--quick", action="store_true", help="5 s per way")
    args = parser.parse_args()
    seconds = 5 if args.quick else args.seconds

    upstream_port, proxy_port = free_port(), free_port()
    env = {**os.environ, "MONEYPATH_TOKEN_SECRET": "bench-only-secret", "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "proxy.log"
        upstream = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(upstream_port)], cwd=ROOT)
        proxy = None
        try:
            asyncio.run(wait_listening(upstream_port))
            with log.open("w") as out:
                url = f"http://127.0.0.1:{upstream_port}"
                proxy = subprocess.Popen(
                    [sys.executable, "-m", "moneypath", "faultproxy", "--catalog", str(ROOT / "moneypath.yaml"),
                     "--port", str(proxy_port), "--upstream", f"acme={url}", "--upstream", f"globex={url}",
                     "--enable-faults"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            direct, proxied, cpu, n = asyncio.run(
                measure(upstream_port, proxy_port, proxy.pid, args.rate, seconds, args.rounds))
        finally:
            for proc in (proxy, upstream):
                if proc is not None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
        banner = log.read_text().splitlines()[:1]

    print(f"Fault proxy, no fault set: open loop {args.rate:g} requests/s, {seconds:g} s per way in {args.rounds} "
          f"alternating slices (Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    if banner:
        print(f"  {banner[0]}")
    print(f"  {'':<20} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}   requests  errors")
    rows = {}
    for way in (direct, proxied):
        lat = way.latencies_ms
        rows[way.name] = {q: percentile(lat, q) for q in (50, 95, 99)}
        print(f"  {way.name:<20} {rows[way.name][50]:7.2f}  {rows[way.name][95]:7.2f}  {rows[way.name][99]:7.2f}  "
              f"{max(lat):7.2f}   {len(lat):8d}  {way.errors:6d}   (ms)")
    added = {q: rows[proxied.name][q] - rows[direct.name][q] for q in (50, 95, 99)}
    print(f"  {'added by the proxy':<20} {added[50]:7.2f}  {added[95]:7.2f}  {added[99]:7.2f}")
    verdict = "met" if added[99] <= GOAL_MS else "MISSED"
    print(f"  added p99 {added[99]:.2f} ms (goal ≤ {GOAL_MS:g} ms: {verdict}); proxy CPU "
          f"{cpu / max(n, 1) * 1000:.2f} ms per request ({cpu / seconds * 100:.0f} % of a core at {args.rate:g}/s)")


if __name__ == "__main__":
    main()
