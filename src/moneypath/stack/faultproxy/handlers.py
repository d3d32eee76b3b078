"""The proxy's routes as named functions. One catch-all aiohttp route dispatches on the raw path's first
segment (a provider's name, webhooks, admin, healthz), so a provider's path and query pass byte for byte."""

from __future__ import annotations

import logging
from urllib.parse import unquote

from aiohttp import web

from moneypath.stack.faultproxy import admin
from moneypath.stack.faultproxy.proxy_config import display
from moneypath.stack.faultproxy.proxy_state import STATE, ProxyState
from moneypath.stack.faultproxy.proxy_webhooks import Delivery
from moneypath.stack.faultproxy.responses import json_response, no_upstream, not_allowed, problem
from moneypath.stack.faultproxy.upstream import NOT_FORWARDED, UpstreamError, forward_headers, reset, send

log = logging.getLogger("moneypath.faultproxy")


async def handle(request: web.Request) -> web.StreamResponse:
    """Every request: routed, and whatever goes wrong answered as problem+json."""
    try:
        return await route(request, request.app[STATE])
    except web.HTTPException as exc:  # aiohttp's own refusals (a body over MAX_BODY_BYTES…), as problems
        return problem(exc.status, "http-error", exc.reason, exc.text or exc.reason)
    except Exception:  # never a traceback to the caller; the log has it
        log.exception("fault proxy failed on %s %s", request.method, request.path)
        return problem(500, "internal-error", "Internal error", "the fault proxy failed; see its log")


async def route(request: web.Request, state: ProxyState) -> web.StreamResponse:
    raw = request.raw_path
    path = raw.partition("?")[0]
    head, _, tail = path[1:].partition("/")
    base = state.upstreams.get(head)
    if base is not None:
        return await provider_call(request, state, head, base + raw[len(head) + 1:])
    if head == "webhooks":
        return await webhook(request, state, tail, raw)
    if head == "admin":
        return await admin.route(request, state, tail)
    if head == "healthz" and not tail:
        return healthz(request, state)
    if unquote(head) in state.unproxied:
        return no_upstream(unquote(head))
    return problem(404, "unknown-provider", "Unknown provider",
                   f"no provider {unquote(head)!r} behind this proxy: the path starts with the provider's name, "
                   f"one of {state.known} (e.g. /{state.providers[0]}/…)", known=list(state.providers))


async def provider_call(request: web.Request, state: ProxyState, provider: str, url: str) -> web.StreamResponse:
    """ANY /{provider}/{path}: forwarded to the provider's upstream, with the provider call faults applied."""
    faults, fault, headers = state.faults, None, request.headers
    if faults.fires("reset", provider, headers):
        reset(request)
        return web.Response(status=204)  # never written: the connection is gone
    if failing := faults.fires("error_rate", provider, headers):
        return problem(int(failing["status"]), "injected-error", "Injected error",
                       f"the fault proxy answered for {provider} (error_rate fault)",
                       headers={"X-Moneypath-Fault": "error_rate"})
    if slow := faults.fires("latency", provider, headers):
        await faults.hold("latency", provider, slow["extra_ms"] / 1000)
        fault = "latency"
    body = await request.read()
    try:
        answer = await send(state.client(), request.method, url, forward_headers(request.headers, NOT_FORWARDED), body)
    except UpstreamError as exc:
        return problem(exc.status, exc.type, "Upstream unavailable", f"{provider}: {exc}", provider=provider)
    if late := faults.fires("timeout", provider, headers):
        await faults.hold("timeout", provider, late["delay_s"])  # the upstream has acted; its answer waits
        fault = "timeout"
    return answer.response(fault)


async def webhook(request: web.Request, state: ProxyState, tail: str, raw: str) -> web.StreamResponse:
    """ANY /webhooks/{provider}/{path}: relayed to the webhook target (WebhookRelay)."""
    provider, _, _ = tail.partition("/")
    if state.target is None:
        return problem(404, "no-webhook-target", "No webhook target",
                       "this proxy relays no webhooks: start it with --webhook-target URL (your service's base URL)")
    if unquote(provider) in state.unproxied:
        return no_upstream(unquote(provider))
    if provider not in state.upstreams:
        return problem(404, "unknown-provider", "Unknown provider",
                       f"no provider {unquote(provider)!r} behind this proxy: webhooks go to "
                       f"/webhooks/<provider>/<path>, with one of {state.known}", known=list(state.providers))
    rest = raw[len("/webhooks/") + len(provider):]
    delivery = Delivery(request.method, state.target + rest, forward_headers(request.headers, NOT_FORWARDED),
                        await request.read())
    return await state.webhooks.relay(provider, delivery, request.headers)


def healthz(request: web.Request, state: ProxyState) -> web.Response:
    """GET /healthz: the upstreams (credentials masked), whether faults are on, the webhook counts."""
    if request.method not in ("GET", "HEAD"):
        return not_allowed(request, "GET")
    return json_response({"ok": True, "upstreams": {p: display(u) for p, u in state.upstreams.items()},
                          "webhook_target": display(state.target) if state.target else None,
                          "faults_enabled": state.config.enable_faults, "faults": len(state.faults.faults.active()),
                          "webhooks": state.webhooks.stats()})
