"""The reference payment service's HTTP API (FastAPI), instrumented with moneypath.instrument.

Every state-changing request needs an `Idempotency-Key`: the key is claimed atomically,
the provider is called with the same key (so a retry after a crash is deduplicated there
too), and the response is stored in the transaction that books the money.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from moneypath._common.faults import FaultError
from moneypath._common.tokens import MAX_LIFETIME_S, TokenError, bearer, verify
from moneypath.instrument import MoneyPath, MoneyPathMiddleware
from moneypath.reference.refservice import ledger, limits, payments
from moneypath.reference.refservice.adapters import ADAPTERS, Adapter
from moneypath.reference.refservice.cost import CostMeter
from moneypath.reference.refservice.db import LOCK_WAIT_MS, is_lock_timeout, make_engine, webhook_events
from moneypath.reference.refservice.faults import service_faults
from moneypath.reference.refservice.idempotency import ClaimLost, IdempotencyStore, Outcome
from moneypath.reference.refservice.outbox import OutboxWorker
from moneypath.reference.refservice.provider_http import provider_http
from moneypath.reference.refservice.reconciliation import Reconciler
from moneypath.reference.refservice.resilience import RetryPolicy
from moneypath.reference.refservice.risk import RiskPolicy, RiskScreen
from moneypath.reference.refservice.workers import Jobs
from moneypath.reference.signing import HEADER as SIGNATURE_HEADER
from moneypath.reference.signing import SignatureError, Verifier

PROBLEM = "application/problem+json"
log = logging.getLogger("moneypath.reference.refservice")
_PROVIDER_FAILURE_STATUS = {"timeout": 504, "circuit_open": 503, "error": 502}
# How long the event loop waits for SQLite's write lock before handing the call to a thread (see
# in_db). A few ms covers a background job's short transaction; with 0, one such overlap sent a
# write to the thread, which then held the lock while waiting for the GIL, so the next writes
# overlapped too: measured 228-254 authorizations/s with 0 vs 433-479 with 5 (2 cores).
INLINE_LOCK_WAIT_MS = 5


@dataclass(frozen=True)
class ServiceConfig:
    catalog: str = "moneypath.yaml"
    db_url: str = "sqlite:///moneypath-ledger.db"
    provider_url: str = "http://127.0.0.1:8100"
    token_secret: bytes = b""
    webhook_secret: bytes = b""
    token_max_lifetime_s: float = MAX_LIFETIME_S  # a token that lives longer (exp - iat) is refused
    provider_timeout_s: float = 2.0
    enable_faults: bool = False  # the /admin/faults API for drills; off in production
    risk: RiskPolicy = RiskPolicy()
    settlement_dir: str = ""  # provider settlement files to reconcile; "" turns reconciliation off
    reconcile_interval_s: float = 5.0
    reconcile_grace_s: float = 30.0  # a settlement line may arrive before its capture commits
    missing_after_s: float = 3600.0  # a capture no settlement mentions by then is a break
    outbox_interval_s: float = 0.5
    outbox_max_attempts: int = 5
    background_jobs: bool = True  # outbox, reconciliation, ledger imbalance and cost accrual loops
    instrumented: bool = True  # False: metrics off (no middleware, no /metrics); the benchmark's baseline

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServiceConfig:
        """From MONEYPATH_* variables; a bad value stops with one line naming the variable."""
        env = os.environ if env is None else env
        secret = env.get("MONEYPATH_TOKEN_SECRET", "")
        if not secret:
            raise SystemExit("moneypath refservice: set MONEYPATH_TOKEN_SECRET (it signs and checks API tokens)")

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = env.get(name, "")
            try:
                value = float(raw) if raw else default
            except ValueError:
                raise SystemExit(f"moneypath refservice: {name}={raw!r} is not a number") from None
            if not low <= value <= high:
                raise SystemExit(f"moneypath refservice: {name}={raw} must be between {low:g} and {high:g}")
            return value

        fallback = env.get("MONEYPATH_RISK_FALLBACK", "allow")
        instrumentation = env.get("MONEYPATH_INSTRUMENTATION", "on")
        if instrumentation not in ("on", "off"):
            raise SystemExit(f"moneypath refservice: MONEYPATH_INSTRUMENTATION={instrumentation!r} must be on or off")
        if fallback not in ("allow", "hold"):
            raise SystemExit(f"moneypath refservice: MONEYPATH_RISK_FALLBACK={fallback!r} must be allow or hold")
        return cls(catalog=env.get("MONEYPATH_CATALOG", "moneypath.yaml"),
                   db_url=env.get("MONEYPATH_DB_URL", cls.db_url),
                   provider_url=env.get("MONEYPATH_PROVIDER_URL", cls.provider_url),
                   token_secret=secret.encode(),
                   webhook_secret=env.get("MONEYPATH_WEBHOOK_SECRET", "").encode(),
                   token_max_lifetime_s=number("MONEYPATH_TOKEN_MAX_LIFETIME_S", MAX_LIFETIME_S, 60, 7 * 86_400),
                   enable_faults=env.get("MONEYPATH_ENABLE_FAULTS", "") in ("1", "true", "yes"),
                   risk=RiskPolicy(timeout_s=number("MONEYPATH_RISK_TIMEOUT_MS", 150, 1, 30_000) / 1000,
                                   fallback=fallback,
                                   allow_limit_minor=int(number("MONEYPATH_RISK_ALLOW_LIMIT_MINOR", 5000, 0, 10**12))),
                   settlement_dir=env.get("MONEYPATH_SETTLEMENT_DIR", ""),
                   reconcile_interval_s=number("MONEYPATH_RECONCILE_INTERVAL_S", 5, 0.1, 86_400),
                   reconcile_grace_s=number("MONEYPATH_RECONCILE_GRACE_S", 30, 0, 86_400),
                   missing_after_s=number("MONEYPATH_MISSING_AFTER_S", 3600, 1, 30 * 86_400),
                   instrumented=instrumentation == "on")


class LedgerUnavailable(Exception):
    pass


class ApiProblem(Exception):
    def __init__(self, status: int, type_: str, title: str, detail: str):
        self.status, self.type, self.title, self.detail = status, type_, title, detail


def problem_response(status: int, type_: str, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"type": f"https://moneypath.dev/problems/{type_}", "title": title, "status": status,
                         "detail": detail}, status_code=status, media_type=PROBLEM)


class AuthorizeRequest(BaseModel):
    amount_minor: limits.Amount
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    provider: str
    method: Literal["card", "bank_transfer", "wallet"] = "card"
    reference: limits.Reference


class RefundRequest(BaseModel):
    amount_minor: limits.Amount


class PayoutRequest(BaseModel):
    amount_minor: limits.Amount
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    provider: str
    reference: limits.Reference


def create_app(config: ServiceConfig, mp: MoneyPath | None = None,
               provider_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """`provider_transport` lets tests run the provider simulator in-process."""
    mp = mp or MoneyPath.from_catalog(config.catalog, backend="prometheus" if config.instrumented else "none")
    engine = make_engine(config.db_url)
    claims = make_engine(config.db_url, durable=False)  # see make_engine: claims need no sync of their own
    store = IdempotencyStore(claims)
    # SQLite (a local file, one writer at a time) runs on the event loop: a transaction is tens of
    # microseconds of C plus SQLAlchemy's Python, and the one sync per booking ~0.3 ms — less than
    # handing it to a thread, where it also waits for the GIL while holding SQLite's write lock
    # (measured on 2 cores: 373-399 vs 281-327 authorizations/s). When another writer holds the
    # lock (a background job, another worker process, an operator's script) the loop waits at most
    # INLINE_LOCK_WAIT_MS; then the same call runs again in a thread that waits up to the full busy
    # timeout. PostgreSQL
    # (network round trips, real concurrency) always runs in a pool of threads.
    sqlite = engine.dialect.name == "sqlite"
    db_threads = ThreadPoolExecutor(1 if sqlite else 16, thread_name_prefix="ledger")

    async def in_db(fn, *args):
        """fn(*args): a function of database transactions only, so safe to run again after a lock timeout."""
        if sqlite:
            token = LOCK_WAIT_MS.set(INLINE_LOCK_WAIT_MS)
            try:
                return fn(*args)
            except Exception as exc:
                if not is_lock_timeout(exc):
                    raise
            finally:
                LOCK_WAIT_MS.reset(token)
        return await asyncio.get_running_loop().run_in_executor(db_threads, contextvars.copy_context().run, fn, *args)

    client = provider_http(config.provider_url, provider_transport)
    adapters: dict[str, Adapter] = {name: cls(client, mp, timeout_s=config.provider_timeout_s)
                                    for name, cls in ADAPTERS.items() if name in mp.catalog.providers}
    faults = service_faults() if config.enable_faults else None
    cost = CostMeter(mp, mp.catalog, faults)
    risk = RiskScreen(mp, config.risk, cost, faults)
    outbox = OutboxWorker(engine, mp, faults, max_attempts=config.outbox_max_attempts,
                          retry=RetryPolicy(config.outbox_max_attempts, base_s=0.2, cap_s=5.0))
    reconciler = (Reconciler(engine, mp, config.settlement_dir, list(mp.catalog.providers), config.reconcile_grace_s,
                             config.missing_after_s) if config.settlement_dir else None)
    currencies = list(mp.catalog.currencies)

    def measure_ledger() -> None:
        with engine.connect() as conn:
            sums = ledger.imbalance(conn)
        for currency in {*currencies, *sums}:
            mp.set_ledger_imbalance(currency, sums.get(currency, 0))

    jobs = Jobs()
    if config.background_jobs:
        jobs.add(config.outbox_interval_s, outbox.run_once, "outbox")
        jobs.add(5.0, measure_ledger, "ledger-imbalance")
        jobs.add(1.0, cost.accrue_infrastructure, "infrastructure-cost")
        if reconciler is not None:
            jobs.add(config.reconcile_interval_s, reconciler.run_once, "reconciliation")

    @asynccontextmanager
    async def lifespan(app):
        measure_ledger()
        jobs.start()
        try:
            yield
        finally:
            await jobs.stop()
            await client.aclose()
            db_threads.shutdown(wait=True)
            engine.dispose()
            claims.dispose()

    # Request metrics come from MoneyPathMiddleware; FastAPI's own telemetry stays off on purpose.
    app = FastAPI(title="moneypath reference payment service", version="1", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                             "auto_configure": False})
    limits.install(app)  # body size, media type, JSON shape; inside MoneyPathMiddleware so refusals are measured
    if config.instrumented:
        app.add_middleware(MoneyPathMiddleware, moneypath=mp)
        app.add_route("/metrics", mp.metrics_app())
    app.state.engine, app.state.mp, app.state.adapters = engine, mp, adapters
    app.state.faults, app.state.outbox, app.state.reconciler, app.state.cost = faults, outbox, reconciler, cost

    @app.exception_handler(ApiProblem)
    async def _problem(request, exc: ApiProblem):
        return problem_response(exc.status, exc.type, exc.title, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "body"
        return problem_response(422, "invalid-request", "Invalid request", f"{where}: {first['msg']}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, exc: StarletteHTTPException):
        return problem_response(exc.status_code, "http-error", str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request, exc: Exception):
        return problem_response(500, "internal-error", "Internal error",
                                "the request failed inside the service; it was not applied twice")

    def principal(request: Request, scope: str) -> str:
        try:
            return verify(config.token_secret, bearer(request.headers.get("authorization")), scope,
                          max_lifetime_s=config.token_max_lifetime_s).sub
        except TokenError as exc:
            status = 403 if exc.kind == "insufficient_scope" else 401
            raise ApiProblem(status, f"token-{exc.kind.replace('_', '-')}", "Not authorized", str(exc)) from None

    def adapter_for(provider: str) -> Adapter:
        if provider not in adapters:
            raise ApiProblem(422, "unknown-provider", "Unknown provider",
                             f"provider must be one of {', '.join(sorted(adapters))}")
        return adapters[provider]

    async def idempotent(request: Request, who: str, operation: str, payload: dict, work) -> Response:
        """`work(provider_key)` calls the provider and returns (status, body, book); `book(conn)` writes
        the effect and may return a function to call once that commit succeeded."""
        key = request.headers.get("idempotency-key", "")
        if not 1 <= len(key) <= 255:
            raise ApiProblem(400, "idempotency-key-required", "Idempotency-Key required",
                             "send an Idempotency-Key header (1-255 characters) with every state-changing request")
        digest = hashlib.sha256(json.dumps([request.method, request.url.path, payload], sort_keys=True).encode())
        claim = await store.claim_or_wait_async(in_db, who, key, operation, digest.hexdigest())
        if claim.outcome is Outcome.REPLAY:
            mp.count_idempotent_replay(operation)
            return Response(claim.body, claim.status, media_type="application/json",
                            headers={"idempotent-replayed": "true"})
        if claim.outcome is Outcome.IN_PROGRESS:
            raise ApiProblem(409, "idempotency-key-in-use", "Request in progress",
                             "a request with this Idempotency-Key is still running; retry later")
        if claim.outcome is Outcome.MISMATCH:
            raise ApiProblem(422, "idempotency-key-reused", "Idempotency-Key reused",
                             "this Idempotency-Key was used with a different request")
        try:
            status, body, book = await work(limits.provider_key(who, key))
        except BaseException:
            await in_db(store.release, who, key, claim.lock)  # nothing was booked: let a retry run
            raise
        text = json.dumps(body)

        def commit():
            with engine.begin() as conn:
                after = book(conn)
                store.complete(conn, who, key, claim.lock, status, text)
                if faults is not None and faults.fires("ledger_write_failure"):
                    raise LedgerUnavailable("ledger_write_failure fault")  # rolls the whole booking back
            return after

        try:
            with mp.time_ledger_write() as write:
                try:
                    after = await in_db(commit)
                except (payments.OverRefundError, ClaimLost):
                    write.outcome = "conflict"  # a client race, not the ledger failing: outside its durability SLO
                    raise
        except ClaimLost:
            # Our claim expired and a retry took the key over: that request's answer is the one that counts.
            raise ApiProblem(409, "idempotency-key-in-use", "Request in progress",
                             "a retry with this Idempotency-Key took the request over; retry later for its "
                             "response") from None
        except Exception as exc:
            # Nothing was booked and nothing acknowledged: free the key so the client's retry runs
            # (the provider sees the same key and does not move money twice).
            await in_db(store.release, who, key, claim.lock)
            if isinstance(exc, payments.OverRefundError):  # a concurrent refund took the rest first
                raise ApiProblem(409, "payment-not-refundable", "Cannot refund", str(exc)) from None
            raise ApiProblem(503, "ledger-unavailable", "Ledger unavailable",
                             "the payment could not be recorded and was not applied; retry with the same "
                             "Idempotency-Key") from None
        if after is not None:  # e.g. the capture's provider fee: counted once, for what this commit booked
            after()
        log.info("booked", extra={"operation": operation, "status": status, "payment_id": body.get("id"),
                                  "state": body.get("state")})
        return Response(text, status, media_type="application/json")

    def provider_failed(outcome: str, provider: str):
        raise ApiProblem(_PROVIDER_FAILURE_STATUS[outcome], f"provider-{outcome.replace('_', '-')}",
                         "Provider unavailable", f"{provider} did not answer ({outcome}); retry with the same "
                         "Idempotency-Key, it is safe")

    @app.post("/v1/payments/authorize", status_code=201)
    async def authorize(request: Request, body: AuthorizeRequest):
        who = principal(request, "payments:write")
        adapter = adapter_for(body.provider)
        limits.require_currency(currencies, body.currency)

        async def work(key):
            screened = await risk.screen(body.amount_minor, body.reference)
            provider_ref = provider_status = None
            if not screened.proceeds:  # declined as fraud, or held because screening did not answer
                state = "declined" if screened.decision == "decline" else "held"
            else:
                with mp.time_authorization(body.provider, body.method) as auth:
                    result = await adapter.authorize(body.amount_minor, body.currency, body.reference, key)
                    auth.outcome = result.outcome if result.outcome in ("approved", "declined", "timeout") else "error"
                if result.outcome not in ("approved", "declined"):
                    provider_failed(result.outcome, body.provider)
                state = "authorized" if result.outcome == "approved" else "declined"
                provider_ref, provider_status = result.provider_ref, result.provider_status
            row_id = payments.new_id("pay")  # known before booking: the stored response carries it

            def book(conn):
                payments.create(conn, principal=who, kind="payment", state=state, provider=body.provider,
                                method=body.method, amount_minor=body.amount_minor, currency=body.currency,
                                reference=body.reference, provider_ref=provider_ref, provider_status=provider_status,
                                payment_id=row_id, risk_decision=screened.decision)

            response = {"id": row_id, "kind": "payment", "state": state, "provider": body.provider,
                        "method": body.method, "amount_minor": body.amount_minor, "refunded_minor": 0,
                        "currency": body.currency, "reference": body.reference, "provider_ref": provider_ref,
                        "provider_status": provider_status, "risk_decision": screened.decision}
            return 201, response, book

        return await idempotent(request, who, "authorize", body.model_dump(), work)

    async def load(who: str, payment_id: str) -> dict:
        def read():
            with engine.connect() as conn:
                return payments.get(conn, payment_id, who)
        row = await in_db(read)
        if row is None:
            raise ApiProblem(404, "payment-not-found", "Payment not found", f"no payment {payment_id}")
        return row

    @app.post("/v1/payments/{payment_id}/capture")
    async def capture(request: Request, payment_id: str):
        who = principal(request, "payments:write")

        async def work(key):
            row = await load(who, payment_id)
            if row["state"] == "captured":  # already booked, e.g. from the provider's webhook after a timeout
                return 200, payments.public(row), lambda conn: None
            if row["state"] != "authorized":
                raise ApiProblem(409, "payment-not-capturable", "Cannot capture",
                                 f"payment {payment_id} is {row['state']}, only authorized payments capture")
            result = await adapter_for(row["provider"]).capture(row["provider_ref"], row["amount_minor"],
                                                                 row["currency"], key)
            if result.outcome != "succeeded":
                provider_failed(result.outcome, row["provider"])
            captured = {**row, "state": "captured", "provider_status": result.provider_status}

            def book(conn):
                # False: the provider's webhook booked it first, and counted the fee then.
                if payments.mark_captured(conn, row, result.provider_status):
                    return lambda: cost.provider_fee(row["provider"], row["amount_minor"])

            return 200, payments.public(captured), book

        return await idempotent(request, who, "capture", {"payment_id": payment_id}, work)

    @app.post("/v1/payments/{payment_id}/refund")
    async def refund(request: Request, payment_id: str, body: RefundRequest):
        who = principal(request, "payments:write")

        async def work(key):
            row = await load(who, payment_id)
            remaining = row["amount_minor"] - row["refunded_minor"]
            if row["state"] != "captured" or body.amount_minor > remaining:
                raise ApiProblem(409, "payment-not-refundable", "Cannot refund",
                                 f"payment {payment_id} is {row['state']} with {remaining} minor units refundable")
            result = await adapter_for(row["provider"]).refund(row["provider_ref"], body.amount_minor,
                                                                row["currency"], key)
            if result.outcome != "succeeded":
                provider_failed(result.outcome, row["provider"])
            refunded = row["refunded_minor"] + body.amount_minor
            after = {**row, "refunded_minor": refunded,
                     "state": "refunded" if refunded == row["amount_minor"] else row["state"]}

            def book(conn):
                payments.mark_refunded(conn, row, body.amount_minor, result.provider_status)

            return 200, payments.public(after), book

        return await idempotent(request, who, "refund", {"payment_id": payment_id, **body.model_dump()}, work)

    @app.post("/v1/payouts", status_code=201)
    async def payout(request: Request, body: PayoutRequest):
        who = principal(request, "payments:write")
        adapter = adapter_for(body.provider)
        limits.require_currency(currencies, body.currency)

        async def work(key):
            result = await adapter.payout(body.amount_minor, body.currency, body.reference, key)
            if result.outcome != "succeeded":
                provider_failed(result.outcome, body.provider)
            row_id = payments.new_id("po")
            response = {"id": row_id, "kind": "payout", "state": "paid", "provider": body.provider,
                        "amount_minor": body.amount_minor, "currency": body.currency, "reference": body.reference,
                        "provider_ref": result.provider_ref, "provider_status": result.provider_status}

            def book(conn):
                payments.create(conn, principal=who, kind="payout", state="paid", provider=body.provider,
                                method="bank_transfer", amount_minor=body.amount_minor, currency=body.currency,
                                reference=body.reference, provider_ref=result.provider_ref,
                                provider_status=result.provider_status, payment_id=row_id)

            return 201, response, book

        return await idempotent(request, who, "payout", body.model_dump(), work)

    verifier = Verifier(config.webhook_secret) if config.webhook_secret else None
    webhook_status = {"invalid_signature": 401, "stale": 400, "replayed": 409}

    @app.post("/v1/webhooks/{provider}")
    async def webhook(request: Request, provider: str):
        """Provider notifications: signed, inside the time window, each nonce once; the same
        event delivered twice is acknowledged without being applied again."""
        if verifier is None:
            raise ApiProblem(503, "webhooks-disabled", "Webhooks disabled", "no MONEYPATH_WEBHOOK_SECRET configured")
        known = provider if provider in mp.catalog.providers else "other"
        body = await request.body()
        try:
            verifier.verify(request.headers.get(SIGNATURE_HEADER), body)
            text = body.decode("utf-8")  # stored as text; anything else is not a provider event
            event = json.loads(text)
            key = (str(event["event"]), str(event["provider_ref"]))
            if len(key[0]) > 64 or len(key[1]) > 128:  # the columns' sizes
                raise ValueError("event or provider_ref too long")
        except SignatureError as exc:
            mp.count_webhook(known, exc.kind)
            raise ApiProblem(webhook_status[exc.kind], f"webhook-{exc.kind.replace('_', '-')}", "Webhook rejected",
                             str(exc)) from None
        except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested too deeply
            mp.count_webhook(known, "invalid_signature")
            raise ApiProblem(400, "webhook-malformed", "Webhook rejected", "signed, but not a provider event") from None

        def store_event() -> tuple[bool, dict | None]:
            """Store the event once; a capture the provider settled that we never booked (our call
            timed out, theirs succeeded) is booked now, in the same transaction."""
            try:
                with engine.begin() as conn:
                    conn.execute(webhook_events.insert().values(provider=known, event=key[0], provider_ref=key[1],
                                                                body=text, received_at=time.time()))
                    if key[0] != "capture.settled":
                        return True, None
                    row = payments.by_provider_ref(conn, known, key[1])
                    booked = row is not None and payments.mark_captured(conn, row, str(event.get("status", "")))
                    return True, row if booked else None
            except IntegrityError:
                return False, None

        # a capture.settled event may book a capture: a ledger write like the API's, measured the same way
        start = time.perf_counter()
        try:
            fresh, booked = await in_db(store_event)
        except Exception:
            if key[0] == "capture.settled":
                mp.record_ledger_write("failed", time.perf_counter() - start)
            raise
        if booked is not None:
            mp.record_ledger_write("committed", time.perf_counter() - start)
            cost.provider_fee(booked["provider"], booked["amount_minor"])
        mp.count_webhook(known, "accepted" if fresh else "duplicate")
        return {"accepted": fresh, "duplicate": not fresh, "booked": booked is not None}

    @app.get("/v1/payments/{payment_id}")
    async def get_payment(request: Request, payment_id: str):
        return payments.public(await load(principal(request, "payments:read"), payment_id))

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    def fault_admin(request: Request) -> None:
        principal(request, "admin:faults")
        if faults is None:
            raise ApiProblem(403, "faults-disabled", "Faults disabled", "fault injection is off; start the service "
                             "with MONEYPATH_ENABLE_FAULTS=1 to use it")

    def fault_problem(exc: FaultError) -> ApiProblem:
        if exc.status == 404:
            return ApiProblem(404, "unknown-fault", "Unknown fault", str(exc))
        return ApiProblem(exc.status, "invalid-fault", "Invalid fault parameters", str(exc))

    @app.get("/admin/faults", include_in_schema=False)
    async def list_faults(request: Request):
        """Active faults and what can be set."""
        fault_admin(request)
        return {"faults": faults.active(), "available": faults.catalog()}

    @app.put("/admin/faults/{name}", include_in_schema=False)
    async def put_fault(request: Request, name: str):
        fault_admin(request)
        try:
            params = json.loads(await request.body() or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise ApiProblem(422, "invalid-fault", "Invalid fault parameters", "body: is not valid JSON") from None
        try:
            return faults.set(name, params)
        except FaultError as exc:
            raise fault_problem(exc) from None

    @app.delete("/admin/faults/{name}", include_in_schema=False)
    async def delete_fault(request: Request, name: str, target: str | None = None):
        fault_admin(request)
        try:
            return {"cleared": faults.clear(name, target)}
        except FaultError as exc:
            raise fault_problem(exc) from None

    return app
