"""GET /admin/faults, PUT|DELETE /admin/faults/{name}[?provider=P]: the proxy's faults, for a bearer token
with the admin:faults scope, on a proxy started with faults enabled.

Every malformed request is a 4xx problem: a query it does not take, a provider the proxy does not have
(404, with a did-you-mean), a body that is not one JSON object (nested 100,000 deep too)."""

from __future__ import annotations

import json
from urllib.parse import unquote

from aiohttp import web

from moneypath.protocol import tokens
from moneypath.protocol.faults.switches import FaultError
from moneypath.stack.faultproxy.proxy_state import ProxyState
from moneypath.stack.faultproxy.responses import did_you_mean, json_response, no_upstream, not_allowed, problem

ADMIN_SCOPE = "admin:faults"
REALM = 'Bearer realm="faultproxy"'
PREFIX = "faults/"


async def route(request: web.Request, state: ProxyState, tail: str) -> web.StreamResponse:
    """/admin/{tail}: the method, the token and the query checked in that order, then the handler."""
    if tail == "faults":
        if request.method != "GET":
            return not_allowed(request, "GET")
        return admin_refusal(request, state) or query_refusal(request, ()) or list_faults(state)
    if not tail.startswith(PREFIX) or "/" in tail[len(PREFIX):]:
        return problem(404, "not-found", "Not found", f"no route for {request.method} {request.path}")
    name = unquote(tail[len(PREFIX):])
    if request.method not in ("PUT", "DELETE"):
        return not_allowed(request, "PUT, DELETE")
    if refusal := admin_refusal(request, state) or query_refusal(request, ("provider",) if request.method == "DELETE"
                                                                 else ()):
        return refusal
    specs = state.faults.faults.specs
    if name not in specs:
        return problem(404, "unknown-fault", "Unknown fault", f"no fault named {name!r}; known: "
                       f"{', '.join(specs)}{did_you_mean(name, specs)}", known=list(specs))
    if request.method == "PUT":
        return await put_fault(request, state, name)
    return delete_fault(request, state, name)


def list_faults(state: ProxyState) -> web.Response:
    return json_response({"faults": state.faults.active()})


async def put_fault(request: web.Request, state: ProxyState, name: str) -> web.Response:
    body, error = parse_body(await request.read())
    if error:
        return problem(422, "invalid-fault", "Invalid fault parameters", f"body: {error}", field="body")
    if isinstance(body, dict) and body.get("provider") in state.unproxied:  # its calls never pass here
        return no_upstream(body["provider"], 422)
    try:
        return json_response(state.faults.set(name, body))
    except FaultError as exc:
        given = body.get("provider") if isinstance(body, dict) and exc.field == "provider" else None
        return fault_problem(exc, did_you_mean(given, state.providers) if isinstance(given, str) else "")


def delete_fault(request: web.Request, state: ProxyState, name: str) -> web.Response:
    provider = request.query.get("provider")
    if provider in state.unproxied:
        return no_upstream(provider, 404)
    if provider is not None and provider not in state.upstreams:
        return unknown_provider(state, provider, "?provider=")
    try:
        return json_response({"cleared": state.faults.clear(name, provider)})
    except FaultError as exc:
        return fault_problem(exc, "")


def fault_problem(exc: FaultError, hint: str) -> web.Response:
    return problem(exc.status, "invalid-fault", "Invalid fault parameters", f"{exc}{hint}", field=exc.field)


def unknown_provider(state: ProxyState, provider: str, where: str) -> web.Response:
    return problem(404, "unknown-provider", "Unknown provider",
                   f"{where}{provider!r}: no such provider behind this proxy (known: {state.known})"
                   f"{did_you_mean(provider, state.providers)}", known=list(state.providers))


def query_refusal(request: web.Request, takes: tuple[str, ...]) -> web.Response | None:
    for key in request.query:
        if key not in takes:
            hint = did_you_mean(key, takes)
            return problem(400, "invalid-query", "Invalid query",
                           f"{request.method} {request.path} takes "
                           f"{'no query' if not takes else 'only ?' + ', ?'.join(takes)}, not ?{key}{hint}",
                           field=key)
        if len(request.query.getall(key)) > 1:
            return problem(400, "invalid-query", "Invalid query", f"?{key} given more than once", field=key)
    return None


def admin_refusal(request: web.Request, state: ProxyState) -> web.Response | None:
    if not state.config.enable_faults:
        return problem(403, "faults-disabled", "Faults disabled",
                       "faults are not enabled on this proxy: start it with --enable-faults (and "
                       "MONEYPATH_TOKEN_SECRET in its environment) to set them")
    try:
        tokens.verify(state.config.token_secret or b"", tokens.bearer(request.headers.get("Authorization")), ADMIN_SCOPE)
    except tokens.TokenError as exc:
        if exc.kind == "insufficient_scope":
            return problem(403, "insufficient-scope", "Forbidden", str(exc),
                           headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", '
                                                       f'scope="{ADMIN_SCOPE}"'})
        given = "Authorization" in request.headers
        return problem(401, "unauthorized", "Unauthorized", str(exc),
                       headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"' if given else REALM})
    return None


def _object_pairs(pairs: list[tuple[str, object]]) -> dict:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"field {key!r} appears twice")
        seen[key] = value
    return seen


def parse_body(raw: bytes) -> tuple[object, str | None]:
    """The body as JSON, or why not in one line (not UTF-8, not JSON, nested deeper than the parser goes)."""
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_object_pairs), None
    except UnicodeDecodeError:
        return None, "is not UTF-8"
    except RecursionError:
        return None, "JSON nested too deeply"
    except json.JSONDecodeError:
        return None, "is not valid JSON"
    except ValueError as exc:  # a repeated field, an integer of more than 4,300 digits
        return None, f"is not valid JSON ({exc})"[:200]
