from __future__ import annotations

import pytest

from moneypath.protocol.tokens import TokenError, bearer, issue, verify
from moneypath.reference.signing import WebhookSignatureError, WebhookVerifier, sign

SECRET = b"s3cret"


def test_token_round_trip_and_each_rejection():
    token = issue(SECRET, "ops", ["admin:faults"], ttl_s=60, now=1000)
    assert verify(SECRET, token, "admin:faults", now=1030).sub == "ops"
    with pytest.raises(TokenError) as e:
        verify(SECRET, token, "payments:write", now=1030)
    assert e.value.kind == "insufficient_scope"
    with pytest.raises(TokenError) as e:
        verify(SECRET, token, "admin:faults", now=1060)
    assert e.value.kind == "expired"
    with pytest.raises(TokenError) as e:
        verify(b"other", token, "admin:faults", now=1030)
    assert e.value.kind == "invalid"
    body, sig = token.split(".")
    forged = issue(b"other", "ops", ["admin:faults", "payments:write"], now=1000).split(".")[0] + "." + sig
    with pytest.raises(TokenError):
        verify(SECRET, forged, "payments:write", now=1030)
    for junk in ("", "a.b.c", "nodot"):
        with pytest.raises(TokenError):
            verify(SECRET, junk, "admin:faults")
    assert bearer("Bearer abc") == "abc"
    with pytest.raises(TokenError):
        bearer("Basic abc")


def _signed(claims: dict) -> str:
    import base64
    import hashlib
    import hmac
    import json

    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    sig = base64.urlsafe_b64encode(hmac.new(SECRET, body.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    return f"{body}.{sig}"


def test_tokens_that_live_too_long_are_refused():
    day = 24 * 3600
    assert verify(SECRET, issue(SECRET, "ops", ["admin:faults"], ttl_s=day, now=1000), "admin:faults", now=1001)
    for token in (issue(SECRET, "ops", ["admin:faults"], ttl_s=day + 1, now=1000),
                  issue(SECRET, "ops", ["admin:faults"], ttl_s=365 * day, now=1000),
                  _signed({"sub": "ops", "scopes": ["admin:faults"], "exp": 1000 + 2 * day}),  # no iat: exp - now
                  _signed({"sub": "ops", "scopes": ["admin:faults"], "iat": 1000 + 300, "exp": 1000 + 900})):
        with pytest.raises(TokenError) as e:
            verify(SECRET, token, "admin:faults", now=1000)
        assert e.value.kind == "invalid"
    old_style = _signed({"sub": "ops", "scopes": ["admin:faults"], "exp": 1000 + 900})
    assert verify(SECRET, old_style, "admin:faults", now=1000).sub == "ops"
    week = issue(SECRET, "ops", ["admin:faults"], ttl_s=7 * day, now=1000)
    assert verify(SECRET, week, "admin:faults", now=1000, max_lifetime_s=7 * day).sub == "ops"
    with pytest.raises(TokenError):
        verify(SECRET, issue(SECRET, "ops", ["admin:faults"], ttl_s=3600, now=1000), "admin:faults", now=1000,
               max_lifetime_s=900)


@pytest.mark.parametrize("subject", ["m" * 65, "", "merchant\x00"])
def test_a_subject_the_service_cannot_store_is_an_invalid_token(subject):
    with pytest.raises(TokenError) as e:
        verify(SECRET, issue(SECRET, subject, ["payments:write"], now=1000), "payments:write", now=1001)
    assert e.value.kind == "invalid"
    assert verify(SECRET, issue(SECRET, "m" * 64, ["payments:write"], now=1000), "payments:write", now=1001)


def test_webhook_signature_window_and_replay():
    verifier = WebhookVerifier(SECRET, window_s=300)
    body = b'{"event": "capture.settled"}'
    header = sign(SECRET, body, now=10_000, nonce="n1")
    verifier.verify(header, body, now=10_010)
    with pytest.raises(WebhookSignatureError) as e:
        verifier.verify(header, body, now=10_020)
    assert e.value.kind == "replayed"
    with pytest.raises(WebhookSignatureError) as e:
        verifier.verify(sign(SECRET, body, now=10_000, nonce="n2"), body + b" ", now=10_010)
    assert e.value.kind == "invalid_signature"
    with pytest.raises(WebhookSignatureError) as e:
        verifier.verify(sign(SECRET, body, now=9_000, nonce="n3"), body, now=10_010)
    assert e.value.kind == "stale"
    with pytest.raises(WebhookSignatureError) as e:
        verifier.verify(None, body, now=10_010)
    assert e.value.kind == "invalid_signature"


def test_non_ascii_signature_is_invalid_not_a_crash():
    with pytest.raises(WebhookSignatureError) as e:
        WebhookVerifier(SECRET).verify("t=1,n=x,v1=\u00e9\u00e9", b"{}", now=1)
    assert e.value.kind == "invalid_signature"


def test_a_future_dated_signature_cannot_be_replayed_while_it_is_still_valid():
    verifier = WebhookVerifier(SECRET, window_s=300)
    header = sign(SECRET, b"{}", now=10_299, nonce="future")
    verifier.verify(header, b"{}", now=10_000)
    with pytest.raises(WebhookSignatureError) as e:
        verifier.verify(header, b"{}", now=10_401)  # 401 s later, signature still inside the window
    assert e.value.kind == "replayed"


def test_token_time_zero_is_honoured():
    token = issue(SECRET, "ops", ["admin:faults"], ttl_s=60, now=0)
    with pytest.raises(TokenError) as e:
        verify(SECRET, token, "admin:faults", now=61)
    assert e.value.kind == "expired"


def test_nonces_are_forgotten_a_slot_at_a_time_after_their_window_never_before():
    from moneypath.reference.signing import NonceWindow

    w = NonceWindow(slot_s=10)
    assert w.add("a", keep_until=1_305, now=1_005)
    assert not w.add("a", keep_until=1_306, now=1_006)  # replayed
    assert w.add("b", keep_until=1_309, now=1_009) and len(w) == 2
    assert not w.add("a", keep_until=1_310, now=1_305)  # still inside its window: kept
    assert w.add("c", keep_until=1_611, now=1_311) and len(w) == 1  # a's and b's slot (1,300-1,310) has passed
    assert w.add("a", keep_until=1_612, now=1_312)


def test_over_max_nonces_the_soonest_to_expire_are_forgotten_first():
    from moneypath.reference.signing import NonceWindow

    w = NonceWindow(slot_s=10, max_nonces=3)
    for i, nonce in enumerate(["a", "b", "c"]):
        assert w.add(nonce, keep_until=1_300 + 10 * i, now=1_000)
    assert w.add("d", keep_until=1_330, now=1_000) and len(w) == 3
    assert w.add("a", keep_until=1_330, now=1_000)  # a went first
    assert not w.add("d", keep_until=1_330, now=1_000)


def test_a_nonce_costs_about_a_hundred_bytes_kept():
    import secrets
    import tracemalloc

    from moneypath.reference.signing import NonceWindow

    w, nonces = NonceWindow(), [secrets.token_hex(12) for _ in range(20_000)]
    tracemalloc.start()
    try:
        for i, nonce in enumerate(nonces):
            w.add(nonce, keep_until=1_300 + i / 100, now=1_000 + i / 100)
        per_nonce = tracemalloc.get_traced_memory()[0] / len(nonces)
    finally:
        tracemalloc.stop()
    assert per_nonce < 120  # an OrderedDict of nonce strings and expiry floats: ~195
