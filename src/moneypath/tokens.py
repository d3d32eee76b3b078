"""Short-lived, scoped API tokens (HMAC-SHA256), shared by the service and the simulator.

A token is `base64url(claims JSON).base64url(HMAC-SHA256(secret, first part))` with claims
`sub`, `scopes` and `exp` (unix seconds). Scopes used here: payments:write,
payments:read, admin:faults.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass


class TokenError(Exception):
    """`kind` is "invalid", "expired" or "insufficient_scope"."""

    def __init__(self, kind: str, detail: str):
        self.kind = kind
        super().__init__(detail)


@dataclass(frozen=True)
class Claims:
    sub: str
    scopes: frozenset[str]
    exp: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(secret: bytes, subject: str, scopes: list[str], ttl_s: int = 900, now: float | None = None) -> str:
    claims = {"sub": subject, "scopes": sorted(scopes), "exp": int((time.time() if now is None else now) + ttl_s)}
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())}"


def verify(secret: bytes, token: str, scope: str, now: float | None = None) -> Claims:
    """The token's claims if it is authentic, unexpired and carries `scope`; else TokenError."""
    try:
        body, signature = token.split(".")
        expected = hmac.new(secret, body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64(signature), expected):
            raise ValueError("bad signature")
        data = json.loads(_unb64(body))
        claims = Claims(str(data["sub"]), frozenset(data["scopes"]), int(data["exp"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("invalid", "the token is malformed or its signature does not match") from exc
    if claims.exp <= (time.time() if now is None else now):
        raise TokenError("expired", "the token has expired")
    if scope not in claims.scopes:
        raise TokenError("insufficient_scope", f"the token lacks the scope {scope}")
    return claims


def bearer(authorization: str | None) -> str:
    """The token from an `Authorization: Bearer …` header, or TokenError."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise TokenError("invalid", "send Authorization: Bearer <token>")
    return authorization[7:].strip()
