"""latency_shift's pieces: quantiles interpolated in the buckets as histogram_quantile does, Woodruff's standard
error against the spread of the estimate over simulated samples, the resolution rule, the judge's query, and the
catalog check refusing a tolerance finer than the buckets (file, line, key, the buckets there)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from moneypath.canary import latency
from moneypath.catalog import CatalogError, parse_catalog
from moneypath.catalog import latency_resolution as res
from moneypath.catalog.canary_policy import judged_metrics
from tests.conftest import FOREIGN_PATH, ROOT

INF = math.inf
UPPERS = [0.1, 0.2, 0.5, INF]


@pytest.mark.parametrize("counts, q, expected", [
    ([10, 30, 40, 40], 0.5, 0.15),  # rank 20: 10 into the 20 of (0.1, 0.2]
    ([10, 30, 40, 40], 0.1, 0.04),  # rank 4 in the first bucket, which starts at 0
    ([10, 30, 40, 40], 1.0, 0.5),  # the top of the last bucket holding observations
    ([10, 30, 40, 50], 0.9, 0.5),  # rank 45 in +Inf: the largest finite bound
    ([0, 0, 40, 40], 0.0, 0.2),  # rank 0 lands on the first bucket reaching it: where that bucket starts... (0, 0.1]
])
def test_quantiles_follow_histogram_quantile(counts, q, expected):
    if q == 0.0:  # histogram_quantile's search stops at the first bucket (count 0 >= rank 0): its start, 0
        expected = 0.0
    assert latency.quantile(UPPERS, counts, q) == pytest.approx(expected)


def test_no_observations_or_one_bucket_has_no_quantile():
    assert math.isnan(latency.quantile(UPPERS, [0, 0, 0, 0], 0.5))
    assert math.isnan(latency.quantile([INF], [5], 0.5))


def test_answers_by_le_become_sorted_monotonic_cumulative_counts():
    uppers, counts = latency.cumulative({"+Inf": 50, "0.2": 30, "0.1": 10, "0.5": 29.5})
    assert uppers == UPPERS and counts == [10, 30, 30, 50]  # 29.5 read a moment before 30: held at 30
    with pytest.raises(ValueError):
        latency.cumulative({"0.1": 3})


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_woodruff_se_is_the_spread_of_the_estimate_over_samples_or_a_little_more(q):
    """Interpolation inside a bucket varies less than a sample quantile, so Woodruff's se errs high: the error
    rates rest on it never erring low (docs/decisions/0020-canary-latency-distribution.md)."""
    buckets = [0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, INF]
    rng = np.random.default_rng(7)
    estimates, ses = [], []
    for _ in range(400):
        draws = rng.lognormal(math.log(0.08), 0.5, 600)
        counts = np.cumsum(np.bincount(np.searchsorted(buckets, draws), minlength=len(buckets)))
        estimates.append(latency.quantile(buckets, list(counts), q))
        ses.append(latency.woodruff_se(buckets, list(counts), q))
    assert 1.0 <= float(np.mean(ses)) / float(np.std(estimates)) <= 1.7


def test_an_interval_reaching_the_inf_bucket_has_no_finite_se():
    assert latency.woodruff_se(UPPERS, [10, 30, 40, 42], 0.9) == INF


@pytest.mark.parametrize("lower, upper, tol, ok", [
    (0.1, 0.2, 0.05, True), (0.1, 0.2, 0.049, False), (0.0, 0.025, 0.0125, True), (5, INF, 10, False)])
def test_a_bucket_resolves_a_shift_of_half_its_width(lower, upper, tol, ok):
    assert res.resolves(lower, upper, tol) is ok


def test_the_tolerance_is_the_larger_of_shift_and_relative():
    assert res.tolerance(0.3, 0.05, 0.2) == pytest.approx(0.06)
    assert res.tolerance(0.1, 0.05, 0.2) == 0.05
    assert res.tolerance(0.1, None, 0.5) == 0.05


def test_a_quantile_in_a_coarse_bucket_or_in_inf_is_not_judged():
    baseline = (UPPERS, [10, 30, 40, 40])
    fine = latency.compare(baseline, baseline, 0.5, 0.05, None)
    assert fine.unjudged is None and fine.estimate == 0 and fine.variance > 0 and fine.tolerance == 0.05
    slow = (UPPERS, [0, 10, 40, 40])  # the canary's median in (0.2, 0.5]: 0.3 s wide, a 0.05 s shift unresolved
    coarse = latency.compare(slow, baseline, 0.5, 0.05, None)
    assert coarse.unjudged and "canary's p50 is in the bucket (0.2, 0.5] s" in coarse.unjudged
    gone = latency.compare((UPPERS, [0, 0, 10, 40]), baseline, 0.5, 0.05, None)
    assert gone.unjudged and "+Inf bucket (over 0.5 s)" in gone.unjudged


def test_the_query_sums_each_arms_buckets_by_le_over_the_window(catalog):
    query = latency.buckets_query(catalog, ('track="canary"',), 600)
    assert query == (f'sum by (le) (increase({catalog.metric("authorization_duration_seconds")}_bucket'
                     '{track="canary"}[600s]))')


def test_the_default_shift_is_half_the_widest_bucket_up_to_the_latency_objective(catalog, foreign):
    shipped = next(m for m in judged_metrics(catalog) if m.key == "latency_shift")
    assert (shipped.quantiles, shipped.shift, shipped.relative) == ((0.5, 0.9), 0.05, None)  # (0.1, 0.2], (0.2, 0.3]
    shop = next(m for m in judged_metrics(foreign) if m.key == "latency_shift")
    assert shop.shift == 0.75  # no latency SLO: the whole histogram, (1, 2.5] the widest


def _refused(section: str) -> tuple[str, int]:
    base = (ROOT / "moneypath.yaml").read_text()
    with pytest.raises(CatalogError) as err:
        parse_catalog(base + "\n" + section, "moneypath.yaml")
    [problem] = err.value.problems
    return problem, len(base.splitlines()) + 1


def test_catalog_check_refuses_a_shift_finer_than_the_buckets_naming_them():
    problem, offset = _refused("canary:\n  metrics:\n    latency_shift: {shift: 0.02}\n")
    assert problem.startswith(f"moneypath.yaml:{offset + 3}: canary.metrics.latency_shift.shift: a tolerance of "
                              "shift 0.02 is finer than the buckets where healthy authorizations land "
                              "(authorization_duration_seconds up to the latency SLO's 0.3 s): (0.05, 0.1], "
                              "(0.1, 0.2], (0.2, 0.3] s are wider than 2 x it"), problem
    assert "tolerate a shift of 0.05 s or more" in problem


def test_a_relative_tolerance_is_checked_at_each_buckets_top():
    problem, offset = _refused("canary:\n  metrics:\n    latency_shift: {relative: 0.2}\n")
    assert problem.startswith(f"moneypath.yaml:{offset + 3}: canary.metrics.latency_shift.relative: "), problem
    # 20 % of 0.3 s resolves (0.2, 0.3]; the buckets below it are too wide for 20 % of their top
    assert "0.3 s): (0, 0.025], (0.025, 0.05], (0.05, 0.1], (0.1, 0.2] s are wider" in problem
    text = (ROOT / "moneypath.yaml").read_text() + ("\ncanary:\n  metrics:\n"
                                                    "    latency_shift: {shift: 0.0125, relative: 0.5}\n")
    assert parse_catalog(text, "moneypath.yaml").canary.metrics["latency_shift"].relative == 0.5


@pytest.mark.parametrize("section, line, message", [
    ("canary:\n  metrics:\n    decline_ratio: {shift: 0.1}\n", 3, "canary.metrics.decline_ratio.shift: only "
     "latency_shift has shift"),
    ("canary:\n  metrics:\n    latency_shift: {min_effect: 0.1}\n", 3, "canary.metrics.latency_shift.min_effect: "
     "latency_shift states the shift it tolerates as shift"),
    ("canary:\n  metrics:\n    latency_shift: {quantiles: [0.9, 1.5]}\n", 3, "canary.metrics.latency_shift.quantiles: "
     "Value error, each quantile is between 0 and 1"),
])
def test_latency_keys_are_checked_where_they_are(section, line, message):
    base = FOREIGN_PATH.read_text()
    with pytest.raises(CatalogError) as err:
        parse_catalog(base + "\n" + section, "shop.yaml")
    [problem] = err.value.problems
    assert problem.startswith(f"shop.yaml:{len(base.splitlines()) + 1 + line}: {message}"), problem


BASELINE_SHARES = (0.02, 0.2, 0.6, 0.95, 0.99, 1, 1, 1, 1)  # the shipped catalog's buckets, p50 88 ms, p90 186 ms


def _judged(catalog, monkeypatch, tmp_path, canary_shares):
    from moneypath.canary.judge import Judge
    from tests.support.canary_prom import FakePrometheus, arm, install

    now = 1_800_000_000.0
    install(monkeypatch, FakePrometheus(arm(catalog, "canary", latency=canary_shares)
                                        + arm(catalog, "baseline", n=9000, latency=BASELINE_SHARES), start=now - 600))
    result = Judge(catalog, "http://prom.test", tmp_path / "state.json").judge(
        'track="canary"', 'track="baseline"', metrics=["latency_shift"], now=now).as_json()
    return result, {m["quantile"]: m for m in result["metrics"]}


def test_a_slower_canary_fails_on_its_quantiles_with_both_arms_in_the_row(catalog, monkeypatch, tmp_path):
    result, rows = _judged(catalog, monkeypatch, tmp_path, (0, 0.02, 0.1, 0.4, 0.9, 0.99, 1, 1, 1))
    assert result["verdict"] == "fail" and set(rows) == {0.5, 0.9}
    p50 = rows[0.5]
    assert p50["id"] == "latency_shift{quantile=0.5}" and p50["status"] == "fail"
    assert p50["canary_quantile"] == pytest.approx(0.22) and p50["baseline_quantile"] == pytest.approx(0.0875)
    assert p50["tolerance"] == 0.05 and p50["canary_bucket"] == [0.2, 0.3] and p50["baseline_bucket"] == [0.05, 0.1]
    assert p50["canary_se"] > 0 and p50["baseline_se"] > 0 and p50["alpha"] == pytest.approx(0.05 / 2)
    assert "sum by (le)" in p50["queries"]["canary"]["buckets"]


def test_a_canary_as_fast_as_its_baseline_does_not_fail(catalog, monkeypatch, tmp_path):
    result, rows = _judged(catalog, monkeypatch, tmp_path, BASELINE_SHARES)
    assert {m["status"] for m in rows.values()} <= {"pass", "inconclusive"}
    assert all(m["effect"] == pytest.approx(0) for m in rows.values())


def test_a_quantile_in_a_bucket_too_coarse_for_the_tolerance_is_not_measured_naming_it(catalog, monkeypatch,
                                                                                         tmp_path):
    result, rows = _judged(catalog, monkeypatch, tmp_path, (0, 0.02, 0.1, 0.4, 0.8, 0.95, 1, 1, 1))
    assert rows[0.9]["status"] == "not measured" and rows[0.5]["status"] == "fail"  # the median still judges it
    assert "canary's p90 is in the bucket (0.3, 0.5] s, wider than 2 x the tolerance 0.05 s" in rows[0.9]["reason"]
    assert rows[0.9]["reason"] in result["not_measured"]
