from __future__ import annotations

import pytest

from moneypath.signing import SignatureError, Verifier, sign
from moneypath.tokens import TokenError, bearer, issue, verify

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
