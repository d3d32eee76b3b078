"""The shipped scenarios and the load they describe over a run (moneypath.loadtest.in_locust.shape)."""

from __future__ import annotations

import pytest

from moneypath.formats import scenarios
from moneypath.loadtest.in_locust import shape

# ---------------------------------------------------------------- scenarios and shape


def test_the_shipped_scenarios_are_valid_against_the_catalog(spec):
    assert set(spec.scenarios) == {"checkout", "peak", "spike", "soak", "overload", "retry_storm", "slow_provider",
                                   "healthz"}
    assert spec.get("peak").multiplier == 10
    assert spec.get("spike").spike.multiplier == 20 and spec.get("spike").spike.duration_s == 60
    assert shape.duration_of(spec, spec.get("soak")) == 3600
    assert spec.get("retry_storm").user == "retry_storm"
    assert spec.get("slow_provider").faults[0].name == "latency"


def test_peak_runs_ten_times_the_users_and_stops_at_the_duration(spec):
    peak = spec.get("peak")
    assert shape.users_at(peak, 5, 0, 60) == 50
    assert shape.users_at(peak, 5, 59.9, 60) == 50
    assert shape.users_at(peak, 5, 60, 60) is None


def test_spike_jumps_twenty_fold_for_a_minute_or_a_third_of_a_short_run(spec):
    spike = spec.get("spike")
    assert shape.spike_window(spike, 300) == (100, 160)
    assert [shape.users_at(spike, 2, t, 300) for t in (0, 99, 100, 159, 160, 299)] == [2, 2, 40, 40, 2, 2]
    assert shape.spike_window(spike, 9) == (3, 6)
    assert [shape.users_at(spike, 2, t, 9) for t in (2.9, 3, 5.9, 6)] == [2, 40, 40, 2]


def test_rate_is_requests_per_second_across_users():
    assert shape.pace_per_user(20, 10) == 2
    with pytest.raises(scenarios.ScenarioError):
        shape.pace_per_user(0, 10)


def test_backoff_is_capped_exponential_with_full_jitter(spec):
    retry = spec.get("retry_storm").retry
    upper = [retry.backoff_s(n, lambda low, high: high) for n in range(1, 9)]
    assert upper == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert all(retry.backoff_s(n, lambda low, high: low) == 0 for n in range(1, 9))


def test_action_shares_never_capture_more_than_was_authorized(spec):
    shares = shape.action_shares(spec)
    assert abs(sum(shares.values()) - 1) < 1e-9
    assert shares["capture"] <= shares["authorize"] and shares["refund"] <= shares["capture"]


def test_the_foreign_scenarios_are_valid_against_the_foreign_catalog(foreign_spec):
    assert set(foreign_spec.currencies) == {"JPY", "KWD"} and foreign_spec.mix.get("payout", 0) == 0
    assert foreign_spec.get("knet_slow").expect_circuit_open == "knet"
