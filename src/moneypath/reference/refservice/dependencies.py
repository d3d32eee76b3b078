"""The routers' FastAPI dependencies.

    services       the app's Services (create_app builds them once and keeps them on app.state)
    require_scope  (principal, services) when the bearer token carries the scope, else a 401/403 problem
    authorized     (principal, services, body) for an endpoint with a JSON body, the body validated first

One dependency per endpoint: FastAPI solves every dependency afresh on each request (cache key,
callable checks, parameter extraction), so the services are handed over by the scope check rather
than by a Depends(services) of their own. And every one is `async def`: FastAPI runs a plain `def`
dependency in its thread pool, a thread hop on every request.
"""

# No `from __future__ import annotations`: authorized() annotates its dependency with the model it
# is given, which FastAPI must see as the class, not as a name to look up in this module.
from collections.abc import Awaitable, Callable
from typing import Annotated, Generic, NamedTuple, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel

from moneypath.protocol.tokens import TokenError, bearer, verify
from moneypath.reference.refservice.audit import trail as audit
from moneypath.reference.refservice.problems import ApiProblem
from moneypath.reference.refservice.services import Services

Body = TypeVar("Body", bound=BaseModel)


async def services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]


def principal(svc: Services, request: Request, scope: str) -> str:
    """The token's subject, if the request's bearer token is valid and carries `scope`; it becomes the audit
    trail's actor for the rest of the request."""
    config = svc.config
    try:
        subject = verify(config.token_secret, bearer(request.headers.get("authorization")), scope,
                         max_lifetime_s=config.token_max_lifetime_s).sub
    except TokenError as exc:
        status = 403 if exc.kind == "insufficient_scope" else 401
        raise ApiProblem(status, f"token-{exc.kind.replace('_', '-')}", "Not authorized", str(exc)) from None
    # Who the audit trail names for what this request changes: an async dependency runs in the endpoint's
    # context, and in_db carries the context into its thread.
    audit.set_actor(subject, scope)
    return subject


class Caller(NamedTuple):
    principal: str
    services: Services


class Authorized(NamedTuple, Generic[Body]):
    principal: str
    services: Services
    body: Body


def require_scope(scope: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency: (principal, services) for a caller whose token carries `scope`
    (`Annotated[Caller, Depends(require_scope("payments:read"))]`)."""

    async def scoped(request: Request) -> Caller:
        svc = request.app.state.services
        return Caller(principal(svc, request, scope), svc)

    return scoped


def authorized(scope: str, model: type[Body]) -> Callable[..., Awaitable[Authorized[Body]]]:
    """A dependency: (principal, services, body) for an endpoint whose JSON body is a `model`.

    FastAPI resolves an endpoint's dependencies before its own parameters, so with the body
    declared on the endpoint the token would be checked first. Declared here, the body is
    validated first and the token only for a valid body: an invalid body is a 422 whoever sends
    it, the order the service has always answered in."""

    async def scoped(request: Request, body: model) -> Authorized:
        svc = request.app.state.services
        return Authorized(principal(svc, request, scope), svc, body)

    return scoped
