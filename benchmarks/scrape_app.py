"""Benchmark service: a trivial instrumented endpoint plus /metrics served three ways.

    python benchmarks/scrape_app.py {thread|plain-thread|server|loop} PORT METRICS_PORT
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from benchmarks.bench_instrument import populated
from moneypath.instrument import MoneyPathMiddleware
from moneypath.instrument.exposition import render


def build(mode: str, metrics_port: int) -> Starlette:
    mp = populated(10)  # the exposition a busy service would have
    registry = mp.registry

    async def authorize(request):
        mp.record_authorization("psp01", "card", "approved", 0.01)
        return PlainTextResponse("ok")

    async def healthz(request):
        return PlainTextResponse("ok")

    async def metrics_in_loop(request):
        body, content_type = render(registry, request.headers.get("accept", ""))
        return Response(body, media_type=content_type)

    async def metrics_plain_thread(request):  # a thread, but the default 5 ms switch interval
        body, content_type = await asyncio.to_thread(render, registry, request.headers.get("accept", ""))
        return Response(body, media_type=content_type)

    routes = [Route("/v1/payments/authorize", authorize, methods=["POST"]), Route("/healthz", healthz)]
    if mode == "thread":
        routes.append(Route("/metrics", mp.metrics_app()))
    elif mode == "loop":
        routes.append(Route("/metrics", metrics_in_loop))
    elif mode == "plain-thread":
        routes.append(Route("/metrics", metrics_plain_thread))
    else:
        mp.start_metrics_server(metrics_port)
    app = Starlette(routes=routes)
    app.add_middleware(MoneyPathMiddleware, moneypath=mp)
    return app


if __name__ == "__main__":
    mode, port, metrics_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    uvicorn.run(build(mode, metrics_port), host="127.0.0.1", port=port, log_level="warning", access_log=False)
