"""Risk screening: the fraud spike and the fallback when risk is down, driven through the HTTP API with the provider
simulator in-process; the background jobs are run by hand (run_once)."""

from __future__ import annotations

from tests.support.refservice import ADMIN, authorize, call, sample


def test_fraud_spike_declines_without_calling_the_provider(world):
    app, _, mp = world
    call(app, "PUT", "/admin/faults/fraud_spike", json={"rate": 1}, headers=ADMIN)
    declined = authorize(app, "fraud-1")
    assert declined.status_code == 201
    assert declined.json()["state"] == "declined" and declined.json()["risk_decision"] == "decline"
    assert sample(mp, "moneypath_fraud_decisions_total", decision="decline") == 1
    assert sample(mp, "moneypath_provider_requests_total", provider="acme", operation="authorize",
                  outcome="success") == 0
    assert sample(mp, "moneypath_fraud_score_ratio_count") == 1
    assert sample(mp, "moneypath_cost_usd_total", component="fraud_screening", provider="none") > 0


def test_risk_down_allows_small_payments_and_holds_large_ones(world):
    app, _, mp = world
    call(app, "PUT", "/admin/faults/risk_down", json={}, headers=ADMIN)
    small, large = authorize(app, "small", amount=4000), authorize(app, "large", amount=9000)
    assert small.json()["risk_decision"] == "allow" and small.json()["state"] in ("authorized", "declined")
    assert large.json()["risk_decision"] == "hold" and large.json()["state"] == "held"
    assert large.json()["provider_ref"] is None  # held payments never reach the provider
    assert sample(mp, "moneypath_fraud_check_timeouts_total", fallback="allow") == 1
    assert sample(mp, "moneypath_fraud_check_timeouts_total", fallback="hold") == 1
