"""The judge's reports: the JSON is the result as it is (no NaN: strict JSON); the HTML page shows per metric the
resolved PromQL, both arms' values, the test, effect, p-value, boundary and verdict, and one plot of the looks once
a test has two."""

from __future__ import annotations

import json
import math

import pytest

from moneypath.canary.judge import Judge
from moneypath.canary.reports import document, plot_latency, plot_looks, to_json
from tests.support.canary_prom import FakePrometheus, arm, install


@pytest.fixture
def results(foreign, monkeypatch, tmp_path):
    install(monkeypatch, FakePrometheus(arm(foreign, "canary", n=300) + arm(foreign, "baseline")))
    judge = Judge(foreign, "http://prom.test", tmp_path / "state.json")
    return [judge.judge('track="canary"', 'track="baseline"', "1799999400", ["decline_ratio", "cost_per_transaction"],
                        now=1_800_000_000.0 + i * 30) for i in range(2)]


def test_the_json_report_is_the_result_in_strict_json(results):
    text = to_json(results[-1])
    assert json.loads(text)["verdict"] == "inconclusive"
    with pytest.raises(ValueError):
        to_json({"effect": math.nan})


def test_the_page_shows_each_metric_with_its_query_values_and_why(results, foreign):
    page = document(results[-1]).to_html()
    decline = next(m for m in results[-1].as_json()["metrics"] if m["metric"] == "decline_ratio")
    for text in ("Money invariants (hard gates)", "Resolved PromQL", "Looks so far", "data:image/png;base64,",
                 decline["id"], decline["reason"], "two proportions, one-sided, group-sequential",
                 f"{decline['canary']['bad']:.4g} / {decline['canary']['total']:.4g}",
                 f"{foreign.metric('authorizations_total')}{{outcome=&quot;declined&quot;,track=&quot;baseline&quot;}}"):
        assert text in page, text
    assert "ratio of sums, descriptive" in page  # cost per transaction says which test it is


def test_one_look_draws_no_plot_two_do(results):
    ids = [m["id"] for m in results[-1].as_json()["metrics"]]
    assert plot_looks(ids, results[0].as_json()["history"]) is None
    assert plot_looks(ids, results[1].as_json()["history"]).startswith("data:image/png;base64,")


def test_the_page_shows_both_arms_latency_distributions_and_the_tolerance(catalog, monkeypatch, tmp_path):
    shares = (0.02, 0.2, 0.6, 0.95, 0.99, 1, 1, 1, 1)
    install(monkeypatch, FakePrometheus(arm(catalog, "canary", latency=shares) + arm(catalog, "baseline", latency=shares)))
    result = Judge(catalog, "http://prom.test", tmp_path / "state.json").judge(
        'track="canary"', 'track="baseline"', "1799999400", ["latency_shift"], now=1_800_000_000.0)
    p90 = next(m for m in result.as_json()["metrics"] if m["id"] == "latency_shift{quantile=0.9}")
    assert p90["distribution"]["le"] == [0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5]
    assert p90["distribution"]["canary"][-1] == p90["canary_events"] and p90["tolerance"] == 0.05
    page = document(result).to_html()
    for text in ("Latency distributions", "p90 185.7 ± ", "(0.05)", "quantiles compared, canary minus baseline"):
        assert text in page, text
    assert plot_latency(result.metrics).startswith("data:image/png;base64,")
    assert plot_latency([m for m in result.metrics if "quantile" not in m.figures]) is None
