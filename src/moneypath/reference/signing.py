"""Webhook signatures from providers: HMAC-SHA256 over timestamp, nonce and body.

Header `X-Moneypath-Signature: t=<unix seconds>,n=<nonce>,v1=<hex digest>` where the digest
is HMAC-SHA256(secret, f"{t}.{n}.".encode() + body). The receiver rejects a bad signature,
a timestamp outside its window (stale), and a nonce it has already seen (replayed).

Each provider signs with its own secret, so an event signed for one provider is refused at
another's URL: `MONEYPATH_WEBHOOK_SECRET_<PROVIDER>` when the provider issued one, otherwise a key
derived from `MONEYPATH_WEBHOOK_SECRET` and the provider's name (`secrets_by_provider`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping

HEADER = "x-moneypath-signature"
DEFAULT_WINDOW_S = 300
SECRET_ENV = "MONEYPATH_WEBHOOK_SECRET"


def secret_env(provider: str) -> str:
    """The variable holding one provider's own secret: MONEYPATH_WEBHOOK_SECRET_<NAME>, non-alphanumerics as _."""
    return f"{SECRET_ENV}_" + "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in provider.upper())


def own_secrets(env: Mapping[str, str]) -> dict[str, bytes]:
    """The MONEYPATH_WEBHOOK_SECRET_<PROVIDER> variables that are set, by variable name."""
    prefix = SECRET_ENV + "_"
    return {name: value.encode() for name, value in env.items() if name.startswith(prefix) and value}


def secrets_by_provider(providers: Iterable[str], master: bytes, own: Mapping[str, bytes]) -> dict[str, bytes]:
    """Each provider's signing secret: its own (`own`, by variable name, see secret_env) or one derived
    from `master` and its name; providers with neither are left out (their webhooks are refused)."""
    result = {}
    for name in providers:
        if own.get(secret_env(name)):
            result[name] = own[secret_env(name)]
        elif master:
            result[name] = hmac.new(master, b"webhook:" + name.encode(), hashlib.sha256).hexdigest().encode()
    return result


class SignatureError(Exception):
    """`kind` is "invalid_signature", "stale" or "replayed" (the webhooks_total outcomes)."""

    def __init__(self, kind: str, detail: str):
        self.kind = kind
        super().__init__(detail)


def sign(secret: bytes, body: bytes, now: float | None = None, nonce: str | None = None) -> str:
    t = int(now if now is not None else time.time())
    n = nonce or secrets.token_hex(12)
    digest = hmac.new(secret, f"{t}.{n}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},n={n},v1={digest}"


class Verifier:
    """Checks signatures, the timestamp window, and nonces seen within the window."""

    def __init__(self, secret: bytes, window_s: int = DEFAULT_WINDOW_S, max_nonces: int = 100_000):
        self.secret, self.window_s, self.max_nonces = secret, window_s, max_nonces
        self._seen: OrderedDict[str, float] = OrderedDict()  # nonce → time it may be forgotten
        self._lock = threading.Lock()

    def verify(self, header: str | None, body: bytes, now: float | None = None) -> None:
        now = now if now is not None else time.time()
        try:
            parts = dict(item.split("=", 1) for item in (header or "").split(","))
            t, n, v1 = int(parts["t"]), parts["n"], parts["v1"]
        except (ValueError, KeyError) as exc:
            raise SignatureError("invalid_signature", f"missing or malformed {HEADER} header") from exc
        expected = hmac.new(self.secret, f"{t}.{n}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), v1.encode("utf-8", "replace")):
            raise SignatureError("invalid_signature", "the signature does not match the body")
        if abs(now - t) > self.window_s:
            raise SignatureError("stale", f"timestamp is {abs(now - t):.0f} s away from now (window {self.window_s} s)")
        with self._lock:
            # A nonce is kept until its signature could no longer pass the window check.
            while self._seen and (next(iter(self._seen.values())) < now or len(self._seen) >= self.max_nonces):
                self._seen.popitem(last=False)
            if n in self._seen:
                raise SignatureError("replayed", "this nonce was already accepted")
            self._seen[n] = max(now, t) + self.window_s
            self._seen.move_to_end(n)
