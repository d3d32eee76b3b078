"""The reference service's optional domains, where wall-clock time is the point: a slow risk check times out
into the fallback. The `timing` tier; the rest: tests/unit/refservice/test_risk.py
and the other domains' files beside it."""

from __future__ import annotations

import time

import pytest

from tests.support.refservice import ADMIN, authorize, call, sample


@pytest.mark.timing
def test_slow_risk_times_out_into_the_fallback(world):
    app, _, mp = world
    call(app, "PUT", "/admin/faults/risk_latency", json={"extra_ms": 10_000}, headers=ADMIN)
    started = time.perf_counter()
    response = authorize(app, "slow-risk", amount=100)
    assert response.json()["risk_decision"] == "allow"
    assert time.perf_counter() - started < 5  # the 50 ms timeout, not the 10 s risk latency
    assert sample(mp, "moneypath_fraud_check_timeouts_total", fallback="allow") == 1
