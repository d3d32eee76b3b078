"""Input limits of the reference service: bad input gets a 4xx problem+json before anything
is written, never a 5xx.

`InputGuard` (pure ASGI) reads the request body into memory up to `max_body_bytes`, counting
bytes as they arrive, so a missing or lying Content-Length cannot get a larger body through
(413). On the JSON API routes it then requires a JSON media type (415) and one JSON object
with unique ASCII field names and sane numbers (400 malformed JSON, 422 otherwise); the
handlers see the same bytes replayed. Webhooks only get the size limit: their signature is
checked over the raw body.

The request-model types close what Pydantic's lax coercion and the providers' own rules left
open: `"100"`, `1e3` and `true` were accepted as amounts, and a blank reference or a currency
outside the catalog was refused by the provider and came back as a 502.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from typing import Annotated

from fastapi import FastAPI
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moneypath._common.problem import Problem
from moneypath.catalog.pan import mentions_card_number

MAX_BODY_BYTES = 64 * 1024
# Longer integer literals are never valid here (amounts stop at 13 digits); Python itself
# refuses more than 4300 digits with a bare ValueError.
MAX_INT_DIGITS = 40
# Routes whose bodies must be JSON objects.
JSON_ROUTES = ("/v1/payments", "/v1/payouts")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

IDEMPOTENCY_KEY_MAX = 255  # characters in an Idempotency-Key (the column's size)
# Provider idempotency keys are "<principal>:<Idempotency-Key>" while that stays short; the
# simulated providers take at most 200 characters, fewer than an Idempotency-Key may have.
PROVIDER_KEY_MAX = 128

CARD_NUMBER_ERROR = "card_number"  # the validation error type of a card number in a field
CONTROL = r"\x00-\x1f\x7f-\x9f"  # a character class (no brackets): C0, DEL and C1
_CONTROL = CONTROL
REFERENCE_PATTERN = rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$"
_REFERENCE = re.compile(REFERENCE_PATTERN)


def _printable(value: str) -> str:
    # Providers refuse blank text; control characters are never meant, and PostgreSQL cannot store NUL.
    if not _REFERENCE.match(value):
        raise ValueError("must contain a visible character and no control characters")
    # A reference is stored, logged and sent to providers: never a card number, glued to letters or not (the
    # message does not echo it; the 422 handler counts it by this error type).
    if mentions_card_number(value):
        raise PydanticCustomError(CARD_NUMBER_ERROR, "must not contain a card number")
    return value


def _whole(value: object) -> object:
    # JSON Schema (2020-12, the OpenAPI 3.1 document's dialect) calls 1000.0 and 1e3 the integer 1000, and so
    # does the service; every such amount up to 10**12 is exact in a float.
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53 else value


# strict: only a JSON integer (a number with no fractional part) is an amount, not "100", 12.5 or true (lax,
# true would charge 1 minor unit).
Amount = Annotated[int, Field(gt=0, le=10**12, strict=True), BeforeValidator(_whole)]


class RequestBody(BaseModel):
    """A request body: its fields and no others (`"methd": "wallet"` would otherwise be ignored, and the
    payment made by card); the document says so with `additionalProperties: false`."""

    model_config = ConfigDict(extra="forbid")


Reference = Annotated[str, Field(min_length=1, max_length=128, json_schema_extra={"pattern": REFERENCE_PATTERN}),
                      AfterValidator(_printable)]


class InputProblem(Problem):
    """Refused input, before anything is written (the guard renders those it catches itself)."""


def install(app: FastAPI, max_body_bytes: int = MAX_BODY_BYTES) -> None:
    """Add the guard and render InputProblem. Call before adding MoneyPathMiddleware, so that
    refused requests are still measured."""
    app.add_middleware(InputGuard, max_body_bytes=max_body_bytes)

    async def _refused(request, exc: InputProblem):
        return exc.response()

    app.add_exception_handler(InputProblem, _refused)


def require_currency(currencies: Collection[str], currency: str) -> None:
    if currency not in currencies:
        raise InputProblem(422, "unknown-currency", "Unknown currency",
                           f"currency must be one of {', '.join(sorted(currencies))}", currencies=sorted(currencies))


def provider_key(principal: str, key: str) -> str:
    """The idempotency key sent to the provider: deterministic per (principal, key), so a retry is
    deduplicated there too, and short enough for every provider."""
    raw = f"{principal}:{key}"
    return raw if len(raw) <= PROVIDER_KEY_MAX else "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


class _ClientGone(Exception):
    pass


class InputGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES,
                 json_routes: tuple[str, ...] = JSON_ROUTES):
        self.app, self.max_body_bytes, self.json_routes = app, max_body_bytes, json_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            headers = Headers(scope=scope)
            self._check_path(scope["path"])
            self._check_declared_length(headers)
            body = await self._read(receive)
            if body and scope["method"] in BODY_METHODS and self._is_json_route(scope["path"]):
                check_json(headers.get("content-type"), body)
        except InputProblem as exc:
            await exc.response()(scope, receive, send)
            return
        except _ClientGone:
            return
        await self.app(scope, _replay(body, receive), send)

    def _is_json_route(self, path: str) -> bool:
        return any(path == route or path.startswith(route + "/") for route in self.json_routes)

    @staticmethod
    def _check_path(path: str) -> None:
        if re.search(f"[{_CONTROL}]", path):
            raise InputProblem(400, "invalid-path", "Invalid path", "the path contains control characters")

    def _check_declared_length(self, headers: Headers) -> None:
        for value in headers.getlist("content-length"):
            if not re.fullmatch(r"[0-9]+", value):
                raise InputProblem(400, "invalid-content-length", "Invalid Content-Length",
                                   "Content-Length must be a decimal number of bytes")
            if len(value) > 18 or int(value) > self.max_body_bytes:
                raise self._too_large()

    def _too_large(self) -> InputProblem:
        return InputProblem(413, "body-too-large", "Request body too large",
                            f"request bodies are limited to {self.max_body_bytes} bytes")

    async def _read(self, receive: Receive) -> bytes:
        """The whole body, or 413 as soon as it passes the limit (whatever Content-Length said)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect: nobody is left to answer
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then wait for the disconnect, as the server's receive would

    return replay


def _is_json_media_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    main, _, sub = media.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def check_json(content_type: str | None, body: bytes) -> dict:
    """The body as a JSON object, or InputProblem."""
    if not _is_json_media_type(content_type):
        raise InputProblem(415, "unsupported-media-type", "Unsupported media type",
                           "send the body as Content-Type: application/json")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("body: is not UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_int=_bounded_int, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise _malformed(f"body: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise _malformed("body: nested too deeply") from None
    if not isinstance(value, dict):
        raise _invalid("body: must be a JSON object")
    return value


def _malformed(detail: str) -> InputProblem:
    return InputProblem(400, "malformed-json", "Malformed JSON", detail)


def _invalid(detail: str) -> InputProblem:
    # The same type and title as the service's schema validation errors.
    return InputProblem(422, "invalid-request", "Invalid request", detail)


def _no_constant(name: str):
    raise _malformed(f"body: {name} is not a JSON number")


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise _invalid(f"body: a number has more than {MAX_INT_DIGITS} digits")
    return int(literal)


def _object(pairs: list[tuple[str, object]]) -> dict:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if not key.isascii():
            raise _invalid(f"body: field names are ASCII, not {ascii(key)}")
        if key in seen:
            raise _invalid(f"body: field {ascii(key)} appears twice")
        seen[key] = value
    return seen
