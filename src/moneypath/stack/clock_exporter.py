"""`moneypath incident clock serve`: the incident reporting clocks as Prometheus gauges on GET /metrics, read from
the state file at every scrape (what `moneypath incident clock start|report|close` wrote), so a deadline shows
the moment it is fixed and goes when its report is recorded. Errors are problem+json."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from moneypath._common.problem import problem
from moneypath.catalog import Catalog
from moneypath.check.report_clocks import ClockError, exposition, load

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def create_app(catalog: Catalog, state_file: Path) -> Starlette:
    async def metrics(request: Request):
        try:
            text = exposition(catalog, load(state_file))
        except ClockError as exc:
            return problem(500, "incident-clocks-unreadable", "The incident clocks cannot be read", str(exc))
        return PlainTextResponse(text, media_type=CONTENT_TYPE)

    async def healthz(request: Request):
        return PlainTextResponse("ok\n")

    async def not_found(request: Request, exc):
        return problem(404, "not-found", "Not found", f"{request.url.path}: this exporter serves /metrics and /healthz")

    return Starlette(routes=[Route("/metrics", metrics), Route("/healthz", healthz)],
                     exception_handlers={404: not_found})


def serve(catalog: Catalog, state_file: Path, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_app(catalog, state_file), host=host, port=port, log_level="warning", access_log=False)
