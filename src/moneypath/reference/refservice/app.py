"""The reference payment service's HTTP API (FastAPI), instrumented with moneypath.instrument.

Every state-changing request needs an `Idempotency-Key`: the key is claimed atomically,
the provider is called with the same key (so a retry after a crash is deduplicated there
too), and the response is stored in the transaction that books the money (booking.py).

create_app builds the app: the wiring (services.py, kept on app.state and handed to the
endpoints through FastAPI dependencies, dependencies.py), the routers (routers/), the middleware,
the problem+json exception handlers, the lifespan running the background jobs, and the OpenAPI
document's shared parts (openapi.py).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from moneypath._common.problem import problem
from moneypath.catalog import OTHER
from moneypath.instrument import MoneyPath, MoneyPathMiddleware
from moneypath.reference import heap
from moneypath.reference.refservice import admission, limits, openapi, service_faults
from moneypath.reference.refservice.config import ServiceConfig
from moneypath.reference.refservice.durability import CHECKPOINT_EVERY_S
from moneypath.reference.refservice.problems import ApiProblem
from moneypath.reference.refservice.routers import ROUTERS
from moneypath.reference.refservice.services import Services
from moneypath.reference.refservice.workers import Jobs

SEAL_INTERVAL_S = 1.0  # well inside moneypath.protocol.audit.chain.PENDING_MAX_S

__all__ = ["ServiceConfig", "create_app"]


def classify(method: str, path: str) -> str:
    """Admission priority: money already in motion (captures, refunds, provider webhooks) is critical, new
    work (authorizations, payouts, reads) may be shed first; health, metrics and admin are never limited."""
    if method == "POST" and (path.startswith("/v1/webhooks/") or path.endswith(("/capture", "/refund"))):
        return admission.CRITICAL
    return admission.NORMAL if path.startswith("/v1/") else admission.EXEMPT


def create_app(config: ServiceConfig, mp: MoneyPath | None = None,
               provider_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """`provider_transport` lets tests run the provider simulator in-process."""
    mp = mp or MoneyPath.from_catalog(config.catalog, backend="prometheus" if config.instrumented else "none")
    services = Services(config, mp, provider_transport)

    jobs = Jobs()
    walks = False  # whether this instance checks the audit chain (its walker then starts with the service)
    if config.background_jobs:
        jobs.add(config.outbox_interval_s, services.outbox.run_once, "outbox")
        jobs.add(5.0, services.measure_ledger, "ledger-imbalance")
        jobs.add(1.0, services.cost.accrue_infrastructure, "infrastructure-cost")
        jobs.add(heap.TRIM_INTERVAL_S, heap.trim, "heap-trim")  # free pages SQLite's caches left resident
        if services.checkpointer is not None:  # the log's pages copied off the event loop (durability.py)
            jobs.add(CHECKPOINT_EVERY_S, services.checkpointer.run_once, "wal-checkpoint")
        if not services.sqlite:  # events parked by a burst's last bookings (audit.py); every instance: one may die
            jobs.add(SEAL_INTERVAL_S, services.audit.seal, "audit-seal")
    if config.background_jobs and config.singleton_jobs:  # once per database: one instance of several runs them
        if services.reconciler is not None:
            jobs.add(config.reconcile_interval_s, services.reconciler.run_once, "reconciliation")
        # The chain is always written; walked when the catalog has its signal or the service signs checkpoints.
        if mp.catalog.enabled("audit") or services.audit.publisher is not None:
            jobs.add(config.audit_verify_interval_s, services.audit.run_once, "audit-chain")
            walks = True

    @asynccontextmanager
    async def lifespan(app):
        services.measure_ledger()
        if walks:  # the walker's start-up (an interpreter, its imports) before the first request, not beside it
            await run_in_threadpool(services.audit.start)
        jobs.start()
        try:
            yield
        finally:
            if config.admission:
                app.state.admission.record_tally()  # the last refusals the HTTP protocol tallied
            await jobs.stop()
            if config.background_jobs and not services.sqlite:
                await run_in_threadpool(services.audit.final_seal)  # nothing parked left behind
            if config.background_jobs and config.singleton_jobs and services.audit.publisher is not None:
                await run_in_threadpool(services.audit.final_checkpoint)  # the head as the service leaves it
            await services.aclose()

    # Request metrics come from MoneyPathMiddleware; FastAPI's own telemetry stays off on purpose.
    app = FastAPI(title="moneypath reference payment service", version="1", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                             "auto_configure": False})
    limits.install(app)  # body size, media type, JSON shape; inside MoneyPathMiddleware so refusals are measured
    if services.faults is not None:  # the request_cost fault: inside admission control, so only admitted requests pay
        app.add_middleware(service_faults.RequestCost, faults=services.faults,
                           counts=lambda method, path: classify(method, path) != admission.EXEMPT)
    if config.admission:  # outside the input guard: an overload refusal reads no body; still counted
        gate = admission.AdmissionGate(classify, on_refuse=mp.count_shed,
                                       on_wire_refusals=lambda method, count: mp.count_http(OTHER, method, 503, count))
        app.state.admission = gate  # admission_http's protocol finds it here
        app.add_middleware(admission.AdmissionControl, gate=gate)
    if config.instrumented:
        app.add_middleware(MoneyPathMiddleware, moneypath=mp)
        app.add_route("/metrics", mp.metrics_app())
    app.state.services = services
    app.state.engine, app.state.mp, app.state.adapters = services.engine, mp, services.adapters
    app.state.faults, app.state.outbox = services.faults, services.outbox
    app.state.reconciler, app.state.cost = services.reconciler, services.cost

    @app.exception_handler(ApiProblem)
    async def _problem(request, exc: ApiProblem):
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        if any(e.get("type") == limits.CARD_NUMBER_ERROR for e in exc.errors()):
            mp.count_card_number("api", "refused")
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "body"
        return problem(422, "invalid-request", "Invalid request", f"{where}: {first['msg']}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, exc: StarletteHTTPException):  # 404, 405 (with its Allow header)
        return problem(exc.status_code, "http-error", str(exc.detail), str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request, exc: Exception):
        return problem(500, "internal-error", "Internal error",
                       "the request failed inside the service; it was not applied twice")

    # FastAPI (>= 0.137) keeps each included router as a node it matches on every request, in order, so a
    # later router costs more per request. ROUTERS puts payments (the hot path) first.
    for router in ROUTERS:
        app.include_router(router)
    openapi.install(app, mp.catalog.providers, services.currencies)
    return app
