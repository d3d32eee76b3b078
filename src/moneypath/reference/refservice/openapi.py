"""The reference service's OpenAPI contract, declared on its routes; FastAPI generates the one
document (`/openapi.json`) from them, and nothing else describes the API.

What a route declares beside its request and response models (those live with the routers):

    refusals(...)        the problem+json answers (RFC 9457, the `Problem` schema) it can really give,
                         the guard's and the catch-all's (400, 413, 500) always among them
    state_change(...)    for a state-changing endpoint: the required `Idempotency-Key` header, the bearer
                         token and its scope, the `Idempotent-Replayed` header on a replayed success, and
                         the audit event it appends (`x-audit`)
    scoped(...)          the bearer token and its scope, for a read

Declared, not enforced: the checks stay where they are (dependencies.py for the token, booking.py
for the key, limits.py for input), so declaring the header does not turn a missing key into
FastAPI's 422, and nothing here runs per request.

Scopes are listed in each operation's security requirement on the HTTP bearer scheme: OpenAPI 3.1
allows a list there for any scheme type ("role names" for schemes other than oauth2/openIdConnect),
so the scopes sit where tools read security (Swagger UI, schemathesis, validators) without
pretending the service runs an OAuth2 flow it does not have.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from moneypath._common.problem import PROBLEM, TYPE_BASE
from moneypath.reference.refservice.limits import CONTROL, IDEMPOTENCY_KEY_MAX
from moneypath.reference.signing import HEADER as SIGNATURE_HEADER

BEARER = "bearerToken"
WEBHOOK_SIGNATURE = "webhookSignature"
REPLAYED_HEADER = "Idempotent-Replayed"

SECURITY_SCHEMES = {
    BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "moneypath token",
             "description": "A scoped, short-lived token signed with the service's MONEYPATH_TOKEN_SECRET "
                            "(moneypath.protocol.tokens.issue). Scopes: payments:write, payments:read, admin:faults; each "
                            "operation lists the one it needs. 401 without a valid token, 403 without the scope."},
    WEBHOOK_SIGNATURE: {"type": "apiKey", "in": "header", "name": SIGNATURE_HEADER,
                        "description": "The provider's HMAC-SHA256 signature of the raw body with a timestamp "
                                       "and a nonce: 401 when it does not verify, 400 when stale, 409 when the "
                                       "nonce was seen."},
}


class Problem(BaseModel):
    """An error, as RFC 9457 problem details (application/problem+json). `type` is stable per kind of refusal."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(pattern=f"^{re.escape(TYPE_BASE)}[a-z0-9-]+$", description="Stable per kind of refusal.")
    title: str = Field(min_length=1)
    status: int = Field(ge=400, le=599, description="The HTTP status code of the answer.")
    detail: str = Field(min_length=1, description="What went wrong with this request; never a stack trace.")
    currencies: list[str] = Field(None, description="unknown-currency: the currencies the service accepts.")


# What each status means here; an endpoint may say it more precisely (refusals(..., said={...})).
MEANING = {
    400: "Bad request: malformed JSON, a missing or over-long Idempotency-Key, an invalid path or Content-Length.",
    401: "No valid bearer token.",
    403: "The token does not carry the scope.",
    404: "No such payment for this caller.",
    409: "A request with this Idempotency-Key is still running, or the payment's state (or an amount another "
         "refund or capture in flight holds) does not allow this.",
    413: "The request body is over 64 KiB.",
    415: "The body is not sent as application/json.",
    422: "Invalid request: a field, an unknown provider or currency, or the Idempotency-Key reused with "
         "another request.",
    500: "The request failed inside the service; it was not applied twice.",
    502: "The provider failed; retry with the same Idempotency-Key.",
    503: "The provider's circuit is open or the ledger is unavailable; nothing was applied, retry with the "
         "same Idempotency-Key.",
    504: "The provider did not answer in time; retry with the same Idempotency-Key.",
}
ALWAYS = (400, 413, 500)  # limits.InputGuard on every route, and create_app's catch-all
PROVIDER = (502, 503, 504)  # problems.provider_failed; 503 also booking's ledger-unavailable
_PROBLEM_CONTENT = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def refusals(*statuses: int, said: Mapping[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status (with ALWAYS) as problem+json."""
    said = said or {}
    return {status: {"description": said.get(status, MEANING[status]), "content": _PROBLEM_CONTENT}
            for status in sorted({*ALWAYS, *statuses})}


IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key", "in": "header", "required": True,
    "description": "Unique per intended state change: a retry with the same key and request gets the stored "
                   "answer (marked Idempotent-Replayed), the same key with another request 422, a duplicate "
                   "still running 409. Missing or longer than the limit: 400. A key holding a card number is "
                   "kept as its digest.",
    "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
}


def scoped(scope: str) -> dict[str, Any]:
    """`openapi_extra=` for a read: the bearer token with `scope`."""
    return {"security": [{BEARER: [scope]}]}


def state_change(scope: str, audit: str, success: int) -> dict[str, Any]:
    """`openapi_extra=` for a state-changing endpoint answering `success`: it needs the bearer token with
    `scope` and an Idempotency-Key, and appends one audit event with the action `audit`."""
    replayed = {"description": "`true` when this is the stored answer to an earlier request with the same key.",
                "schema": {"type": "string", "enum": ["true"]}}
    return {**scoped(scope), "parameters": [IDEMPOTENCY_KEY_PARAMETER],
            "responses": {str(success): {"headers": {REPLAYED_HEADER: replayed}}},
            "x-audit": audit_event(audit)}


def audit_event(action: str) -> dict[str, str]:
    """`x-audit`: the event a state change appends to the audit trail."""
    return {"action": action, "description": f"appends one audit event with the action {action!r}"}


# A path segment the service routes as the parameter: no control character (limits.InputGuard refuses those
# with 400) and no slash (another route, or none).
PATH_SEGMENT_PATTERN = rf"^[^/{CONTROL}]+$"


def install(app: FastAPI, providers: Collection[str] = (), currencies: Collection[str] = ()) -> None:
    """Complete the document FastAPI generates (once, on the first request for /openapi.json): add the
    components the routes refer to (the Problem schema, the security schemes), and drop the 422 FastAPI
    adds to every operation with parameters: its body is FastAPI's own error shape, which the service
    never answers (its 422s are problem+json, declared by refusals() where they can happen).

    And say what the service takes, as it checks it at run time (so that a request valid by the document
    is not refused; schemathesis' positive_data_acceptance check holds the service to it): the catalog's
    `providers` and `currencies` as enums wherever a body or path names one, path segments without a
    control character or a slash, integer bounds as integers. (Request bodies take no other fields:
    limits.RequestBody, `additionalProperties: false`.)"""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        components = document.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        if "Problem" not in schemas:
            for operations in document["paths"].values():
                for operation in operations.values():
                    if operation["responses"].get("422", {}).get("content", {}).get("application/json"):
                        del operation["responses"]["422"]
                    _declare_parameters(operation, providers)
                    _declare_body(operation, schemas, providers, currencies)
            for schema in schemas.values():
                _integer_bounds(schema)
            schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            components["schemas"] = {name: schemas[name] for name in sorted(schemas)
                                     if name not in ("HTTPValidationError", "ValidationError")}
            components["securitySchemes"] = SECURITY_SCHEMES
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _integer_bounds(schema: dict[str, Any]) -> None:
    """FastAPI's OpenAPI model writes every bound as a float (`maximum: 1000000000000.0`), and a generator
    then sends 5.0 for an integer the service takes strictly (422): integer fields get integer bounds."""
    for prop in schema.get("properties", {}).values():
        if prop.get("type") == "integer":
            for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if isinstance(prop.get(bound), float) and prop[bound].is_integer():
                    prop[bound] = int(prop[bound])


def _declare_parameters(operation: dict[str, Any], providers: Collection[str]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "path":
            continue
        schema = parameter.setdefault("schema", {})
        if parameter["name"] == "provider" and providers:
            schema["enum"] = sorted(providers)
        else:
            schema.setdefault("pattern", PATH_SEGMENT_PATTERN)


def _declare_body(operation: dict[str, Any], schemas: dict[str, Any], providers: Collection[str],
                  currencies: Collection[str]) -> None:
    ref = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    if not ref:
        return
    properties = schemas[ref.rsplit("/", 1)[-1]].get("properties", {})
    for name, values in (("provider", providers), ("currency", currencies)):
        if name in properties and values:
            properties[name]["enum"] = sorted(values)
