"""The simulator's HTTP face: one API per catalog provider, the admin endpoints, and their errors.

POST /{provider}/v1/authorizations[/{id}/capture|/{id}/refund], /{provider}/v1/payouts         (flat style)
POST /{provider}/api/charges[/{token}/settle|/{token}/reverse], /{provider}/api/transfers     (nested style)
GET /admin/faults, PUT|DELETE /admin/faults/{name}       (bearer token, scope admin:faults)
POST /admin/settlements/flush                             (same token)
GET /healthz                                              (providers, their styles, currencies)

{provider} is each provider of the catalog; which style it speaks: providers.styles_for (with the
reference catalog, /acme/v1/... and /globex/api/..., what the reference service's adapters call).
Every error is RFC 9457 problem+json; none carries a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from moneypath._common.problem import problem
from moneypath.catalog import Catalog
from moneypath.instrument._correlation import accept_correlation_id
from moneypath.protocol import tokens
from moneypath.protocol.correlation_header import HEADER as CORRELATION_HEADER
from moneypath.reference import heap
from moneypath.reference.providersim.providers import (
    REFERENCE_CURRENCIES,
    REFERENCE_PROVIDERS,
    ProviderError,
    SimulatedProvider,
    build,
    styles_for,
)
from moneypath.reference.providersim.settlement import Settlement
from moneypath.reference.providersim.simulator_faults import FaultError, SimulatorFaults
from moneypath.reference.providersim.webhook_delivery import WebhookSender
from moneypath.reference.signing import secrets_by_provider

ADMIN_SCOPE = "admin:faults"
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="providersim"'}
log = logging.getLogger("moneypath.providersim")


@dataclass(frozen=True)
class SimConfig:
    settlement_dir: Path | str
    webhook_url: str | None  # None or "": no webhooks
    webhook_secret: bytes  # each provider signs with a secret derived from it, unless it has its own:
    token_secret: bytes
    enable_faults: bool = False
    latency_scale: float = 1.0  # multiplies the providers' own latency; 0 answers at once
    seed: int = 7
    settlement_interval_s: float = 0  # 0: settle only on POST /admin/settlements/flush
    # > 0: freeze what the simulator keeps every so many seconds (moneypath.reference.heap); its process sets it,
    # an in-process app in a test leaves the test's collector alone
    heap_freeze_interval_s: float = 0
    # What to simulate, from the catalog (SimConfig.from_catalog); the defaults are the shipped moneypath.yaml's.
    providers: tuple[str, ...] = REFERENCE_PROVIDERS  # one simulated provider each, in catalog order
    currencies: Mapping[str, int] = field(default_factory=lambda: dict(REFERENCE_CURRENCIES))  # code → exponent
    styles: Mapping[str, str] = field(default_factory=dict)  # provider → flat|nested; the rest: styles_for's rule
    webhook_secrets: Mapping[str, bytes] = field(default_factory=dict)  # by variable (signing.secret_env)

    @classmethod
    def from_catalog(cls, catalog: Catalog, styles: Mapping[str, str] | None = None, **settings) -> SimConfig:
        """The catalog's providers and currencies (with their exponents); `settings` are the other fields."""
        return cls(providers=tuple(catalog.providers),
                   currencies={code: catalog.exponent(code) for code in catalog.currencies},
                   styles=dict(styles or {}), **settings)


async def _json(request: Request) -> object:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProviderError(422, "Invalid request", "body: is not valid JSON", "invalid-request", "body") from exc


def create_app(config: SimConfig) -> Starlette:
    """The simulator for `config`; ValueError (providers.StyleError) if config.styles names an unknown
    provider or style."""
    if not config.providers or not config.currencies:
        raise ValueError("SimConfig needs at least one provider and one currency (the catalog's)")
    styles = styles_for(config.providers, config.styles)
    providers = build(config.seed, styles, config.currencies)
    faults = SimulatorFaults(config.seed, providers=tuple(providers))
    webhooks = WebhookSender(config.webhook_url,
                             secrets_by_provider(providers, config.webhook_secret, config.webhook_secrets), faults)
    settlement = Settlement(config.settlement_dir, faults)

    def endpoint(provider: SimulatedProvider, operation: str):
        async def handle(request: Request):
            name = provider.name
            delay = provider.latency_s() * config.latency_scale
            if slow := faults.get("latency", name):
                delay += slow["extra_ms"] / 1000
            if delay > 0:
                await asyncio.sleep(delay)
            if faults.fires("error_rate", name):
                return problem(503, "unavailable", "Service unavailable", f"{name} is failing (error_rate fault)")
            try:
                body = await _json(request)
                if operation == "capture":
                    copies = 2 if faults.fires("duplicate_capture", name) else 1
                    reply, event = provider.capture(body, request.path_params["ref"], copies)
                elif operation == "authorize":
                    reply, event = provider.authorize(body, decline=bool(faults.fires("decline_spike", name)))
                elif "ref" in request.path_params:
                    reply, event = getattr(provider, operation)(body, request.path_params["ref"])
                else:
                    reply, event = getattr(provider, operation)(body)
            except ProviderError as exc:
                return _provider_problem(exc)
            if event is not None:
                if correlation_id := request.headers.get(CORRELATION_HEADER):
                    event["correlation_id"] = accept_correlation_id(correlation_id)
                webhooks.emit(name, event)
            if late := faults.fires("timeout_late_success", name):
                await asyncio.sleep(late["delay_s"])  # the effect above is already applied
            return JSONResponse(reply.body, status_code=reply.status)
        return handle

    def admin(request: Request, faults_endpoint: bool) -> JSONResponse | None:
        """A problem response when the caller may not use this admin endpoint, else None."""
        try:
            tokens.verify(config.token_secret, tokens.bearer(request.headers.get("authorization")), ADMIN_SCOPE)
        except tokens.TokenError as exc:
            if exc.kind == "insufficient_scope":
                return problem(403, "insufficient-scope", "Forbidden", str(exc))
            return problem(401, "unauthorized", "Unauthorized", str(exc), headers=BEARER_CHALLENGE)
        if faults_endpoint and not config.enable_faults:
            return problem(403, "faults-disabled", "Faults disabled", "fault injection is off; start the simulator "
                           "with --enable-faults (SimConfig.enable_faults=True) to use it")
        return None

    async def list_faults(request: Request):
        if denied := admin(request, True):
            return denied
        return JSONResponse({"faults": faults.active()})

    async def put_fault(request: Request):
        if denied := admin(request, True):
            return denied
        try:
            body = await _json(request)
            return JSONResponse(faults.set(request.path_params["name"], body))
        except ProviderError as exc:
            return _provider_problem(exc)
        except FaultError as exc:
            return _fault_problem(exc)

    async def delete_fault(request: Request):
        if denied := admin(request, True):
            return denied
        name, provider = request.path_params["name"], request.query_params.get("provider")
        try:
            cleared = faults.clear(name, provider)
        except FaultError as exc:
            return _fault_problem(exc)
        if name == "out_of_order_webhooks":
            for fault in cleared:
                webhooks.release(fault["provider"])
        return JSONResponse({"cleared": cleared})

    async def flush(request: Request):
        if denied := admin(request, False):
            return denied
        try:
            return JSONResponse(settlement.flush(providers))
        except OSError as exc:
            return problem(500, "settlement-write-failed", "Settlement write failed",
                           f"{type(exc).__name__}: {exc.strerror or exc}")

    async def healthz(request: Request):
        return JSONResponse({"status": "ok", "providers": sorted(providers), "styles": styles,
                             "currencies": dict(config.currencies), "faults": len(faults.active())})

    async def not_found(request: Request, exc):
        path = request.url.path
        first = path.strip("/").split("/", 1)[0]
        if first in providers:
            p = providers[first]
            return problem(404, "not-found", "Not found", f"no route for {request.method} {path}; {first} speaks "
                           f"the {p.style} style: POST {', '.join(p.routes.values())}")
        if first and first not in ("admin", "healthz"):
            close = difflib.get_close_matches(first, list(providers), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            return problem(404, "unknown-provider", "Unknown provider",
                           f"no route for {request.method} {path}: {first} is not a provider of the catalog "
                           f"(this simulator serves {', '.join(providers)}){hint}")
        return problem(404, "not-found", "Not found", f"no route for {request.method} {path}")

    async def not_allowed(request: Request, exc):
        return problem(405, "method-not-allowed", "Method not allowed",
                       f"{request.method} is not allowed on {request.url.path}")

    async def server_error(request: Request, exc):
        return problem(500, "internal-error", "Internal error", "the simulator failed; see its log")

    async def settle_periodically():
        while True:
            await asyncio.sleep(config.settlement_interval_s)
            try:
                settlement.flush(providers)
            except OSError:
                log.exception("periodic settlement flush failed; the lines stay pending")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        tasks = []
        if config.settlement_interval_s > 0:
            tasks.append(asyncio.create_task(settle_periodically()))
        if config.heap_freeze_interval_s > 0:
            tasks.append(asyncio.create_task(heap.freeze_periodically(config.heap_freeze_interval_s)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            webhooks.release()  # held by out_of_order_webhooks: late is better than lost
            await webhooks.drain(timeout_s=5)
            await webhooks.aclose()

    routes = [Route(path, endpoint(p, operation), methods=["POST"])
              for p in providers.values() for operation, path in p.routes.items()]
    routes += [Route("/admin/faults", list_faults, methods=["GET"]),
               Route("/admin/faults/{name}", put_fault, methods=["PUT"]),
               Route("/admin/faults/{name}", delete_fault, methods=["DELETE"]),
               Route("/admin/settlements/flush", flush, methods=["POST"]),
               Route("/healthz", healthz, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: not_allowed, Exception: server_error})
    app.state.config, app.state.providers, app.state.faults = config, providers, faults
    app.state.webhooks, app.state.settlement = webhooks, settlement
    return app


def _provider_problem(exc: ProviderError) -> JSONResponse:
    return problem(exc.status, exc.type_, exc.title, str(exc), field=exc.field)


def _fault_problem(exc: FaultError) -> JSONResponse:
    if exc.status == 404:
        return problem(404, "unknown-fault", "Unknown fault", str(exc))
    return problem(exc.status, "invalid-fault", "Invalid fault parameters", str(exc), field=exc.field)
