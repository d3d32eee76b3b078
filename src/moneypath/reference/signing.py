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


class WebhookSignatureError(Exception):
    """`kind` is "invalid_signature", "stale" or "replayed" (the webhooks_total outcomes)."""

    def __init__(self, kind: str, detail: str):
        self.kind = kind
        super().__init__(detail)


def sign(secret: bytes, body: bytes, now: float | None = None, nonce: str | None = None) -> str:
    t = int(now if now is not None else time.time())
    n = nonce or secrets.token_hex(12)
    digest = hmac.new(secret, f"{t}.{n}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},n={n},v1={digest}"


class NonceWindow:
    """The nonces accepted, each kept until its signature could no longer pass the window check, in little
    memory: this store holds every webhook of the last `window_s` (~55,000 at the soak's ~180 webhooks a
    second), so it is the service's largest in-memory state and fills for the first window of a run.

    A nonce is kept as its 64-bit hash (Python's, keyed per process: an outsider cannot aim at a collision;
    a chance one refuses a webhook as replayed with odds of about n / 2**64 — 3e-15 with 55,000 kept), in a
    dict (compact: ~46 bytes a key) beside a list per slot of `slot_s` seconds of expiry times, so a slot is
    forgotten whole when its time has passed and no per-nonce time or order node is kept: about half the memory
    of an OrderedDict of nonce strings and expiry floats. A nonce may be
    kept up to `slot_s` longer than its window: harmless, its signature is stale by then and the staleness
    check comes first. Over `max_nonces` the slots expiring soonest are forgotten first."""

    def __init__(self, slot_s: float = 10.0, max_nonces: int = 100_000):
        self.slot_s, self.max_nonces = slot_s, max_nonces
        self._keys: dict[int, None] = {}
        self._slots: dict[int, list[int]] = {}  # slot (expiry // slot_s) -> the keys expiring in it
        self._first_gone_at = float("inf")  # when the earliest slot may be forgotten: no scan of the slots before

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, nonce: str, keep_until: float, now: float) -> bool:
        """Remember `nonce` until `keep_until`; False when it is remembered already (a replay)."""
        if self._first_gone_at < now:
            for slot in [slot for slot in self._slots if (slot + 1) * self.slot_s < now]:
                self._forget(slot)
        key = hash(nonce)
        if key in self._keys:
            return False
        while len(self._keys) >= self.max_nonces and self._slots:
            self._forget(min(self._slots))
        self._keys[key] = None
        slot = int(keep_until // self.slot_s)
        self._slots.setdefault(slot, []).append(key)
        self._first_gone_at = min(self._first_gone_at, (slot + 1) * self.slot_s)
        return True

    def _forget(self, slot: int) -> None:
        keys = self._keys
        for key in self._slots.pop(slot):
            keys.pop(key, None)
        self._first_gone_at = (min(self._slots) + 1) * self.slot_s if self._slots else float("inf")


class WebhookVerifier:
    """Checks signatures, the timestamp window, and nonces seen within the window."""

    def __init__(self, secret: bytes, window_s: int = DEFAULT_WINDOW_S, max_nonces: int = 100_000):
        self.secret, self.window_s, self.max_nonces = secret, window_s, max_nonces
        self._seen = NonceWindow(max_nonces=max_nonces)
        self._lock = threading.Lock()

    def verify(self, header: str | None, body: bytes, now: float | None = None) -> None:
        now = now if now is not None else time.time()
        try:
            parts = dict(item.split("=", 1) for item in (header or "").split(","))
            t, n, v1 = int(parts["t"]), parts["n"], parts["v1"]
        except (ValueError, KeyError) as exc:
            raise WebhookSignatureError("invalid_signature", f"missing or malformed {HEADER} header") from exc
        expected = hmac.new(self.secret, f"{t}.{n}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), v1.encode("utf-8", "replace")):
            raise WebhookSignatureError("invalid_signature", "the signature does not match the body")
        if abs(now - t) > self.window_s:
            raise WebhookSignatureError("stale",
                                        f"timestamp is {abs(now - t):.0f} s away from now (window {self.window_s} s)")
        with self._lock:
            # A nonce is kept until its signature could no longer pass the window check.
            if not self._seen.add(n, max(now, t) + self.window_s, now):
                raise WebhookSignatureError("replayed", "this nonce was already accepted")
