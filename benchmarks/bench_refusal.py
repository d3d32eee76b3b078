"""What one refusal costs the service's core, end to end, on asyncio's loop and on uvloop (figures, not pass/fail).

    .venv/bin/python benchmarks/bench_refusal.py [--seconds 10] [--rounds 2] [--connections 64] [--loops asyncio,uvloop]

Above saturation the service answers about two refusals for every authorization it admits (bench_overload.py,
3x), so what a refusal costs decides the goodput. A server process runs the reference service's app (create_app,
its metrics on, no background jobs, a fresh SQLite ledger) with its HTTP protocol (admission_http.py) under
uvicorn, its gate's limit at 0, so every authorization is refused as its headers are parsed; a client process keeps
--connections keep-alive connections busy with authorizations (the bench's request bytes), each sent when the
previous answer is in. Per round and loop: refusals per second, and the server's CPU per refusal, user and system
apart (the system part is the loopback TCP stack: on loopback the sender's write does the receiver's work). Loops
alternate, so drift on a shared machine hits both alike. The service runs on asyncio's loop (refservice
`__main__`); uvloop is shown beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

if not __package__:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_service import CLK_TCK  # noqa: E402
from benchmarks.processes import free_port, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BODY = b'{"amount_minor": 1250, "currency": "EUR", "provider": "acme", "reference": "order-1"}'
REQUEST = (b"POST /v1/payments/authorize HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer " + b"t" * 180 + b"\r\n"
           b"Content-Type: application/json\r\nIdempotency-Key: a-bench-1\r\nContent-Length: %d\r\n\r\n" % len(BODY)
           + BODY)


def serve(port: int, loop: str) -> None:
    """The server: the service's app with its HTTP protocol under uvicorn, every new request refused."""
    import tempfile

    import uvicorn

    from moneypath.reference.refservice.admission import LagLimit
    from moneypath.reference.refservice.admission_http import AdmittingHttpToolsProtocol
    from moneypath.reference.refservice.app import ServiceConfig, create_app

    ledger = Path(tempfile.mkdtemp(prefix="bench-refusal-")) / "ledger.db"
    app = create_app(ServiceConfig(catalog=str(ROOT / "moneypath.yaml"), db_url=f"sqlite:///{ledger}",
                                   token_secret=b"s" * 32, provider_url=f"http://127.0.0.1:{port}",
                                   background_jobs=False))
    app.state.admission.limiter = LagLimit(limit=0, min_limit=0, max_limit=0)  # nothing new fits
    uvicorn.run(app, host="127.0.0.1", port=port, loop=loop, http=AdmittingHttpToolsProtocol, log_level="warning",
                access_log=False, timeout_keep_alive=75)


async def one_connection(port: int, until: float) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answered = 0
    try:
        while time.perf_counter() < until:
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 503"):
                raise SystemExit(f"bench_refusal: expected a refusal, got {head.splitlines()[0]!r}")
            answered += 1
    finally:
        writer.close()
    return answered


def cpu(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def one_round(loop: str, seconds: float, connections: int) -> dict:
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), loop])
    try:
        wait_for(lambda: _answers(port), 20, f"the {loop} server")

        async def load() -> int:
            until = time.perf_counter() + 1.0  # warm-up, discarded
            await asyncio.gather(*(one_connection(port, until) for _ in range(connections)))
            user0, sys0 = cpu(server.pid)
            t0 = time.perf_counter()
            counts = await asyncio.gather(*(one_connection(port, t0 + seconds) for _ in range(connections)))
            wall = time.perf_counter() - t0
            user1, sys1 = cpu(server.pid)
            n = sum(counts)
            return {"rps": n / wall, "user_us": (user1 - user0) / n * 1e6, "sys_us": (sys1 - sys0) / n * 1e6,
                    "busy": (user1 - user0 + sys1 - sys0) / wall}

        import uvloop
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(load())
    finally:
        server.terminate()
        server.wait(10)


def _answers(port: int) -> bool:
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured per round and loop (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each loop once (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections (default 64)")
    parser.add_argument("--loops", default="asyncio,uvloop",
                        help="the server's event loops, comma-separated (default asyncio,uvloop; the service's: asyncio)")
    args = parser.parse_args()
    loops = [name.strip() for name in args.loops.split(",") if name.strip()]
    if args.seconds <= 0 or args.rounds < 1 or args.connections < 1:
        parser.error("--seconds must be positive, --rounds and --connections at least 1")
    if not loops or set(loops) - {"asyncio", "uvloop"}:
        parser.error(f"--loops takes asyncio, uvloop or both, not {args.loops!r}")
    results: dict[str, list[dict]] = {loop: [] for loop in loops}
    for i in range(args.rounds):
        for loop in (loops if i % 2 == 0 else loops[::-1]):
            r = one_round(loop, args.seconds, args.connections)
            results[loop].append(r)
            print(f"round {i + 1} {loop:7}: {r['rps']:7.0f} refusals/s, server CPU per refusal {r['user_us']:5.1f} µs "
                  f"user + {r['sys_us']:5.1f} µs system, the server busy {r['busy']:.0%} of a core", flush=True)
    for loop, rounds in results.items():
        total = statistics.median(r["user_us"] + r["sys_us"] for r in rounds)
        print(f"{loop:7}: median {total:5.1f} µs of the server's core per refusal over {len(rounds)} rounds")


if __name__ == "__main__":
    main()
