"""Short-lived, scoped API tokens (HMAC-SHA256), shared by the service and the simulator.

A token is `base64url(claims JSON).base64url(HMAC-SHA256(secret, first part))` with claims
`sub`, `scopes`, `iat` and `exp` (unix seconds). The scopes there are: SCOPES.

Short-lived means checked, not hoped for: verify() refuses a token that lives longer than
`max_lifetime_s` (exp - iat; exp - now for a token without iat), so a leaked secret's
holder or a careless script cannot mint a credential that stays good for a year.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

SCOPES = ("payments:write", "payments:read", "admin:faults")  # what the service, simulator and proxy check
MAX_LIFETIME_S = 24 * 3600
CLOCK_SKEW_S = 60  # an iat this far ahead of our clock is tolerated (the issuer's clock runs fast)
SUBJECT_MAX = 64  # the service stores the subject as the principal, a String(64) column


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
    now = time.time() if now is None else now
    claims = {"sub": subject, "scopes": sorted(scopes), "iat": int(now), "exp": int(now + ttl_s)}
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())}"


def verify(secret: bytes, token: str, scope: str, now: float | None = None,
           max_lifetime_s: float = MAX_LIFETIME_S) -> Claims:
    """The token's claims if it is authentic, unexpired, short-lived and carries `scope`; else TokenError."""
    now = time.time() if now is None else now
    try:
        body, signature = token.split(".")
        expected = hmac.new(secret, body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64(signature), expected):
            raise ValueError("bad signature")
        data = json.loads(_unb64(body))
        claims = Claims(str(data["sub"]), frozenset(data["scopes"]), int(data["exp"]))
        iat = int(data["iat"]) if "iat" in data else None
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("invalid", "the token is malformed or its signature does not match") from exc
    if not 0 < len(claims.sub) <= SUBJECT_MAX or not claims.sub.isprintable():
        raise TokenError("invalid", f"the token's subject must be 1-{SUBJECT_MAX} printable characters")
    if claims.exp <= now:
        raise TokenError("expired", "the token has expired")
    if iat is not None and iat > now + CLOCK_SKEW_S:
        raise TokenError("invalid", "the token was issued in the future")
    if claims.exp - (now if iat is None else iat) > max_lifetime_s:
        raise TokenError("invalid", f"the token lives longer than the {max_lifetime_s:g} s maximum; "
                                    "mint a shorter-lived one")
    if scope not in claims.scopes:
        raise TokenError("insufficient_scope", f"the token lacks the scope {scope}")
    return claims


def bearer(authorization: str | None) -> str:
    """The token from an `Authorization: Bearer …` header, or TokenError."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise TokenError("invalid", "send Authorization: Bearer <token>")
    return authorization[7:].strip()
