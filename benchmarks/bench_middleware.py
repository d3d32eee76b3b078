"""The web middlewares' cost per request (figures, not pass/fail): the ASGI and the WSGI middleware around an app
that answers at once, driven in-process, the median of several repeats in microseconds per request.

    .venv/bin/python benchmarks/bench_middleware.py [--requests N] [--repeats R]

Run it on two checkouts (PYTHONPATH=<checkout>/src) to compare a change to the hot path, as
docs/decisions/0026-instance-identity-header.md does.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

import moneypath
from moneypath.catalog import load_catalog
from moneypath.instrument import MoneyPath, MoneyPathMiddleware
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.instrument.wsgi import MoneyPathWSGIMiddleware

ROOT = Path(__file__).resolve().parent.parent
ROUTE = "/v1/payments/{payment_id}"


class Route:
    path = ROUTE


async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}"})


def wsgi_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"{}"]


def asgi_us(mp: MoneyPath, n: int) -> float:
    middleware = MoneyPathMiddleware(app, moneypath=mp)
    scope = {"type": "http", "path": "/v1/payments/p1", "method": "GET", "headers": [], "route": Route()}

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        pass

    async def run():
        start = time.perf_counter()
        for _ in range(n):
            await middleware(scope, receive, send)
        return time.perf_counter() - start

    return asyncio.run(run()) / n * 1e6


def wsgi_us(mp: MoneyPath, n: int) -> float:
    middleware = MoneyPathWSGIMiddleware(wsgi_app, mp, route_name=lambda environ: ROUTE)
    environ = {"PATH_INFO": "/v1/payments/p1", "REQUEST_METHOD": "GET"}

    def start_response(status, headers, exc_info=None):
        return None

    start = time.perf_counter()
    for _ in range(n):
        middleware(environ, start_response).close()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    mp = MoneyPath(load_catalog(ROOT / "moneypath.yaml"), PrometheusBackend(CollectorRegistry()))
    asgi, wsgi = [], []
    for _ in range(args.repeats):
        asgi.append(asgi_us(mp, args.requests))
        wsgi.append(wsgi_us(mp, args.requests))
    print(f"moneypath from {Path(moneypath.__file__).parent}")
    print(f"ASGI middleware: {statistics.median(asgi):.2f} µs/request (median of {args.repeats} × {args.requests})")
    print(f"WSGI middleware: {statistics.median(wsgi):.2f} µs/request (median of {args.repeats} × {args.requests})")


if __name__ == "__main__":
    main()
