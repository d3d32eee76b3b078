"""Webhook signatures from providers: HMAC-SHA256 over timestamp, nonce and body.

Header `X-Moneypath-Signature: t=<unix seconds>,n=<nonce>,v1=<hex digest>` where the digest
is HMAC-SHA256(secret, f"{t}.{n}.".encode() + body). The receiver rejects a bad signature,
a timestamp outside its window (stale), and a nonce it has already seen (replayed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

HEADER = "x-moneypath-signature"
DEFAULT_WINDOW_S = 300


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
