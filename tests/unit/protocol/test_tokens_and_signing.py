from __future__ import annotations

import pytest

from moneypath.protocol.tokens import TokenError, bearer, issue, verify
from moneypath.reference.signing import SignatureError, Verifier, sign

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
    verifier = Verifier(SECRET, window_s=300)
    body = b'{"event": "capture.settled"}'
    header = sign(SECRET, body, now=10_000, nonce="n1")
    verifier.verify(header, body, now=10_010)
    with pytest.raises(SignatureError) as e:
        verifier.verify(header, body, now=10_020)
    assert e.value.kind == "replayed"
    with pytest.raises(SignatureError) as e:
        verifier.verify(sign(SECRET, body, now=10_000, nonce="n2"), body + b" ", now=10_010)
    assert e.value.kind == "invalid_signature"
    with pytest.raises(SignatureError) as e:
        verifier.verify(sign(SECRET, body, now=9_000, nonce="n3"), body, now=10_010)
    assert e.value.kind == "stale"
    with pytest.raises(SignatureError) as e:
        verifier.verify(None, body, now=10_010)
    assert e.value.kind == "invalid_signature"


def test_non_ascii_signature_is_invalid_not_a_crash():
    with pytest.raises(SignatureError) as e:
        Verifier(SECRET).verify("t=1,n=x,v1=\u00e9\u00e9", b"{}", now=1)
    assert e.value.kind == "invalid_signature"


def test_a_future_dated_signature_cannot_be_replayed_while_it_is_still_valid():
    verifier = Verifier(SECRET, window_s=300)
    header = sign(SECRET, b"{}", now=10_299, nonce="future")
    verifier.verify(header, b"{}", now=10_000)
    with pytest.raises(SignatureError) as e:
        verifier.verify(header, b"{}", now=10_401)  # 401 s later, signature still inside the window
    assert e.value.kind == "replayed"


def test_token_time_zero_is_honoured():
    token = issue(SECRET, "ops", ["admin:faults"], ttl_s=60, now=0)
    with pytest.raises(TokenError) as e:
        verify(SECRET, token, "admin:faults", now=61)
    assert e.value.kind == "expired"
