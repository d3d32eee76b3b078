"""One judge pass on the ticket shop's catalog against a Prometheus stand-in (tests/support/canary_prom.py): the
money invariants fail a canary whatever the statistics, every empty answer is one "not measured" line naming its
query (never a pass), bad input is BadUsage, and the verdicts combine as documented. The sequential tests are
scripted here (ScriptedTest): these tests judge the judge, not the statistics."""

from __future__ import annotations

import json
import math

import pytest

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, jsonable
from moneypath.canary import cost_ratio as cost_module
from moneypath.canary import judge as judge_module
from moneypath.canary.judge import Judge
from moneypath.canary.queries import BadUsage
from moneypath.canary.results import InvariantResult, MetricRow, decide
from moneypath.canary.sequential import INCONCLUSIVE, Look
from tests.conftest import ROOT
from tests.support.canary_prom import FakePrometheus, arm, install

CANARY, BASELINE = 'track="canary"', 'track="baseline"'
NOW = 1_800_000_000.0


class ScriptedTest:
    """A SequentialTest whose verdict the test decides: `ScriptedTest.verdicts[test id prefix]` (default inconclusive);
    it records every look and survives to_dict/from_dict as the real one must."""

    verdicts: dict[str, str] = {}
    looks: list[tuple] = []

    def __init__(self, *, alpha, power, min_effect, min_sample, n=0):
        self.alpha, self.power, self.min_effect, self.min_sample, self.n = alpha, power, min_effect, min_sample, n

    def look(self, cb, ct, bb, bt):
        self.n += 1
        ScriptedTest.looks.append((self.alpha, cb, ct, bb, bt, self.n))
        verdict = next((v for k, v in self.verdicts.items() if self.min_effect == k), INCONCLUSIVE)
        return Look(verdict, cb / ct if ct else 0, bb / bt if bt else 0, 0.0, 0.0, 0.5, 3.0, 0.1, 2000,
                    0 if verdict != INCONCLUSIVE else 1500, "scripted")

    def to_dict(self):
        return {"alpha": self.alpha, "power": self.power, "min_effect": self.min_effect, "min_sample": self.min_sample,
                "n": self.n}

    @classmethod
    def from_dict(cls, data):
        return cls(**data)


class ScriptedMarginTest(ScriptedTest):
    """A MarginTest whose verdict is `ScriptedTest.verdicts["latency"]` (default inconclusive); its looks recorded
    in `ScriptedTest.looks` as (alpha, estimate, variance, margin, design, n)."""

    def __init__(self, *, alpha, power, min_sample, min_effect="latency", n=0):
        super().__init__(alpha=alpha, power=power, min_effect=min_effect, min_sample=min_sample, n=n)

    def look(self, *, estimate, variance, margin, design, canary_value, baseline_value, canary_events, baseline_events):
        self.n += 1
        ScriptedTest.looks.append((self.alpha, estimate, variance, margin, design, self.n))
        verdict = self.verdicts.get("latency", INCONCLUSIVE)
        return Look(verdict, canary_value, baseline_value, estimate, 0.0, 0.5, 3.0, 0.1, 200,
                    0 if verdict != INCONCLUSIVE else 150, "scripted")


class ScriptedCostTest(ScriptedTest):
    """The MarginTest of cost per transaction, scripted as the shares' tests (its min_effect read from the margin)."""

    def __init__(self, *, alpha, power, min_sample, n=0, min_effect=None):
        super().__init__(alpha=alpha, power=power, min_effect=min_effect, min_sample=min_sample, n=n)

    def look(self, *, estimate, variance, margin, design, canary_value, baseline_value, canary_events,
             baseline_events):
        self.min_effect = round(math.expm1(margin), 9)
        return super().look(canary_value * canary_events, canary_events, baseline_value * baseline_events,
                            baseline_events)


@pytest.fixture
def scripted(monkeypatch):
    ScriptedTest.verdicts, ScriptedTest.looks = {}, []
    monkeypatch.setattr(judge_module, "SequentialTest", ScriptedTest)
    monkeypatch.setattr("moneypath.canary.latency.MarginTest", ScriptedMarginTest)
    monkeypatch.setattr(cost_module, "MarginTest", ScriptedCostTest)
    return ScriptedTest


def _judge(foreign, monkeypatch, tmp_path, canary, baseline, **kw):
    fake = install(monkeypatch, FakePrometheus(canary + baseline, start=NOW - 600))
    j = Judge(foreign, "http://prom.test", tmp_path / "state.json")
    return j.judge(CANARY, BASELINE, kw.pop("since", None), kw.pop("metrics", None),
                   now=kw.pop("now", NOW)).as_json(), fake


def test_a_duplicate_charge_fails_the_canary_at_once_whatever_the_statistics(foreign, monkeypatch, tmp_path, scripted):
    result, _ = _judge(foreign, monkeypatch, tmp_path, arm(foreign, "canary", duplicates=1), arm(foreign, "baseline"))
    assert result["verdict"] == FAIL and result["exit_code"] == 1
    gate = next(i for i in result["invariants"] if i["invariant"] == "duplicate_charges")
    first = next(iter(foreign.providers))
    assert gate["status"] == FAIL and f"1 on {first}" in gate["reason"]
    assert foreign.money(1200, foreign.currencies[0]) in gate["reason"]
    assert gate["reason"].endswith("payments not named: no --database")
    assert all(m["status"] != FAIL for m in result["metrics"])  # the statistics had nothing against it


def test_a_ledger_out_of_balance_fails_the_canary(foreign, monkeypatch, tmp_path, scripted):
    result, _ = _judge(foreign, monkeypatch, tmp_path, arm(foreign, "canary", imbalance=-250),
                       arm(foreign, "baseline"))
    gate = next(i for i in result["invariants"] if i["invariant"] == "ledger_imbalance")
    assert result["verdict"] == FAIL and gate["status"] == FAIL and foreign.currencies[0] in gate["reason"]


def test_too_little_data_is_inconclusive_and_says_what_it_needs(foreign, monkeypatch, tmp_path, scripted):
    result, _ = _judge(foreign, monkeypatch, tmp_path, arm(foreign, "canary", n=60), arm(foreign, "baseline", n=600))
    assert result["verdict"] == "inconclusive" and result["exit_code"] == 3
    assert result["reason"].startswith("needs ~1500 more canary ")
    # 60 authorizations per provider in 600 s: 1500 more take 250 minutes at that rate
    assert result["needs"]["canary_events"] == 1500 and result["reason"].endswith("~250 min at the current rate")
    assert result["not_measured"] == []


def test_every_test_passing_and_the_invariants_holding_is_a_pass(foreign, monkeypatch, tmp_path, scripted):
    scripted.verdicts = {m: PASS for m in (0.05, 0.02, 0.01, 0.1, "latency")}
    result, _ = _judge(foreign, monkeypatch, tmp_path, arm(foreign, "canary"), arm(foreign, "baseline"))
    assert {m["metric"]: m["status"] for m in result["metrics"]}["cost_per_transaction"] == PASS
    assert result["verdict"] == PASS and result["exit_code"] == 0, result["reason"]


def test_one_failing_test_fails_and_one_waiting_test_keeps_it_inconclusive(foreign, monkeypatch, tmp_path, scripted):
    scripted.verdicts = {0.05: PASS, 0.02: FAIL, 0.01: PASS, 0.1: PASS, "latency": PASS}
    result, _ = _judge(foreign, monkeypatch, tmp_path, arm(foreign, "canary"), arm(foreign, "baseline"))
    assert result["verdict"] == FAIL
    assert any(f"{key}{{provider=" in result["reason"] for key in ("authorization_failure_ratio", "provider_error_ratio",
                                                                    "provider_timeout_ratio")), result["reason"]
    scripted.verdicts = {0.05: PASS, 0.01: PASS, 0.1: PASS, "latency": PASS}  # the 0.02 ratios per provider still wait
    result, _ = _judge(foreign, monkeypatch, tmp_path / "2", arm(foreign, "canary"), arm(foreign, "baseline"))
    assert result["verdict"] == "inconclusive" and "{provider=" in result["needs"]["metric"]


def test_alpha_is_split_over_the_tests_and_the_state_carries_the_looks(foreign, monkeypatch, tmp_path, scripted):
    for _ in range(2):
        _judge(foreign, monkeypatch, tmp_path, arm(foreign, "canary"), arm(foreign, "baseline"))
    tests = 4 * len(foreign.providers) + 2 + 2 + 1  # decline, failure, error, timeout per provider; slow; ledger;
    # p50, p90; cost
    assert {round(a, 6) for a, *_ in scripted.looks} == {round(0.05 / tests, 6)}
    assert sorted(n for *_, n in scripted.looks)[-tests:] == [2] * tests  # the second pass is each test's second look
    state = json.loads((tmp_path / "state.json").read_text())
    [entry] = state.values()
    assert len(entry["tests"]) == tests and len(entry["history"]) == 2


def test_a_provider_without_traffic_in_either_arm_is_shown_not_judged(foreign, monkeypatch, tmp_path, scripted):
    scripted.verdicts = {m: PASS for m in (0.05, 0.02, 0.01, 0.1, "latency")}
    canary, baseline = arm(foreign, "canary"), arm(foreign, "baseline")
    quiet = list(foreign.providers)[1]
    for s in canary + baseline:
        if s.labels.get("provider") == quiet:
            s.grew = 0.0
    result, _ = _judge(foreign, monkeypatch, tmp_path, canary, baseline)
    skipped = [m for m in result["metrics"] if m["status"] == "skipped"]
    assert skipped and all(m["provider"] == quiet for m in skipped)
    assert result["verdict"] == PASS


def test_a_selector_that_matches_nothing_is_one_line_never_a_pass(foreign, monkeypatch, tmp_path, scripted):
    scripted.verdicts = {m: PASS for m in (0.05, 0.02, 0.01, 0.1)}
    result, fake = _judge(foreign, monkeypatch, tmp_path, [], arm(foreign, "baseline"))
    assert result["verdict"] == "inconclusive" and result["exit_code"] == 3
    [line] = result["not_measured"]
    assert line.startswith('not measured: the canary selector {track="canary"} matches no series')
    assert f'{foreign.namespace}_.+' in line


def test_a_prometheus_that_does_not_answer_is_one_line(foreign, monkeypatch, tmp_path):
    install(monkeypatch, FakePrometheus(down=True))
    result = Judge(foreign, "http://prom.test").judge(CANARY, BASELINE, "30m", now=NOW).as_json()
    assert result["verdict"] == "inconclusive" and result["exit_code"] == 3
    assert result["not_measured"] == ["not measured: Prometheus does not answer: cannot reach Prometheus at "
                                      "http://prom.test: ConnectError"]


def test_a_missing_series_is_not_measured_naming_its_query(foreign, monkeypatch, tmp_path, scripted):
    scripted.verdicts = {m: PASS for m in (0.05, 0.02, 0.01, 0.1)}
    canary = [s for s in arm(foreign, "canary") if not s.name.endswith("_bucket")]
    result, _ = _judge(foreign, monkeypatch, tmp_path, canary, arm(foreign, "baseline"))
    slow = next(m for m in result["metrics"] if m["metric"] == "slow_authorizations")
    assert slow["status"] == NOT_MEASURED
    assert f'{foreign.metric("authorization_duration_seconds")}_count{{track="canary"}}' in slow["reason"]
    assert result["verdict"] == "inconclusive" and slow["reason"] in result["not_measured"]


def test_a_metric_the_catalog_lacks_is_not_measured_and_an_unknown_key_is_bad_usage(foreign, monkeypatch, tmp_path):
    result, _ = _judge(foreign, monkeypatch, tmp_path, arm(foreign, "canary"), arm(foreign, "baseline"),
                       metrics=["dead_letters"])
    assert result["not_measured"] == ["not measured: dead_letters: the catalog has no signal dead_letters_total (or "
                                      "its feature is off)"]
    assert result["verdict"] == "inconclusive"
    with pytest.raises(BadUsage, match="unknown canary metric 'error_rate'"):
        _judge(foreign, monkeypatch, tmp_path, [], [], metrics=["error_rate"])


def test_without_since_the_canary_start_is_read_and_without_it_nothing_is_judged(foreign, monkeypatch, tmp_path):
    result, _ = _judge(foreign, monkeypatch, tmp_path, arm(foreign, "canary"), arm(foreign, "baseline"))
    assert result["since"] == judge_module.rfc3339(NOW - 600) and result["window_s"] == 600
    fake = install(monkeypatch, FakePrometheus(arm(foreign, "canary") + arm(foreign, "baseline")))
    result = Judge(foreign, "http://prom.test").judge(CANARY, BASELINE, now=NOW).as_json()
    assert result["verdict"] == "inconclusive" and "give --since" in result["not_measured"][0]
    assert fake.queries[-1] == 'max(process_start_time_seconds{track="canary"})'


@pytest.mark.parametrize("canary, baseline, since, message", [
    ('track="canary"', 'track="canary"', "30m", "are the same"),
    ("track=canary", 'track="baseline"', "30m", "is not PromQL label matchers"),
    ("", 'track="baseline"', "30m", "the canary selector is empty"),
    ('__name__="x"', 'track="baseline"', "30m", "names a metric"),
    ('track="canary"', 'track="baseline"', "yesterday", "is not a time: give RFC 3339"),
    ('track="canary"', 'track="baseline"', "2099-01-01T00:00:00Z", "is not in the past"),
    ('track="canary"', 'track="baseline"', "2026-01-01T00:00:00", "has no time zone"),
])
def test_bad_input_is_bad_usage(foreign, canary, baseline, since, message):
    with pytest.raises(BadUsage, match=message):
        Judge(foreign, "http://prom.test").judge(canary, baseline, since, now=NOW)


@pytest.mark.parametrize("policy, verdict, held", [("hold", "inconclusive", True), ("fail", FAIL, False)])
def test_past_max_inconclusive_the_policy_holds_or_fails(foreign, monkeypatch, tmp_path, scripted, policy, verdict, held):
    catalog = foreign.model_copy(update={"canary": foreign.canary.model_copy(
        update={"max_inconclusive": "1h", "on_inconclusive": policy})})
    install(monkeypatch, FakePrometheus(arm(foreign, "canary") + arm(foreign, "baseline")))
    result = Judge(catalog, "http://prom.test").judge(CANARY, BASELINE, "2h", now=NOW).as_json()
    assert (result["verdict"], result["held"]) == (verdict, held)
    assert "past max_inconclusive 1h" in result["reason"]


def _combine(metrics, gates, not_measured):
    """decide()'s (verdict as the JSON spells it, reason)."""
    d = decide(metrics, gates, not_measured)
    return {PASS: "pass", FAIL: "fail", NOT_MEASURED: "inconclusive"}[d.outcome], d.reason


def test_combine_never_passes_on_nothing():
    assert _combine([], [], [])[0] == "inconclusive"
    skipped = [MetricRow.of("skipped", metric="x", reason="")]
    assert _combine(skipped, [], [])[:2] == ("inconclusive", "no metric could be tested: no traffic in either arm")
    passed = [MetricRow(metric="x", outcome=PASS, reason="")]
    unmeasured_gate = [InvariantResult(invariant="duplicate_charges", description="", judged=True, status=NOT_MEASURED,
                                       reason="not measured: q returned nothing")]
    assert _combine(passed, unmeasured_gate, [])[:2] == ("inconclusive", "not measured: q returned nothing")
    shown_only = [InvariantResult(invariant="writes_lost", description="", judged=False, status=NOT_MEASURED,
                                  reason="no --database")]
    assert _combine(passed, shown_only, [])[0] == PASS


def test_an_infinite_statistic_is_null_in_the_result(foreign, monkeypatch, tmp_path, scripted):
    monkeypatch.setattr(ScriptedTest, "look", lambda self, *counts: Look(
        INCONCLUSIVE, 0.0, 0.0, 0.0, float("inf"), float("nan"), 3.0, 0.1, 2000, 10, "scripted"))
    result, _ = _judge(foreign, monkeypatch, tmp_path, arm(foreign, "canary"), arm(foreign, "baseline"))
    decline = next(m for m in result["metrics"] if m["metric"] == "decline_ratio")
    assert decline["z"] is None and decline["p_value"] is None
    json.dumps(result, allow_nan=False)


def test_the_state_file_keeps_the_canaries_judged_last(foreign, monkeypatch, tmp_path, scripted):
    monkeypatch.setattr(judge_module, "STATES_KEPT", 2)
    for i in range(3):
        _judge(foreign, monkeypatch, tmp_path, arm(foreign, "canary"), arm(foreign, "baseline"), since=str(NOW - 600 - i),
               now=NOW + i)
    state = json.loads((tmp_path / "state.json").read_text())
    assert sorted(entry["history"][-1]["at"] for entry in state.values()) == [NOW + 1, NOW + 2]


@pytest.mark.parametrize("fixture, queries, tests, said", [
    ("foreign", 40, 13, "40 queries for the ticket shop's catalog (8 metrics, 13 tests)"),
    ("catalog", 44, 14, "44 for the shipped one (9 metrics, 14 tests)")])
def test_a_pass_asks_what_the_docs_say(request, monkeypatch, tmp_path, fixture, queries, tests, said):
    """docs/canary.md states these counts."""
    c = request.getfixturevalue(fixture)
    fake = install(monkeypatch, FakePrometheus(arm(c, "canary") + arm(c, "baseline"), start=NOW - 600))
    result = Judge(c, "http://prom.test").judge(CANARY, BASELINE, now=NOW).as_json()
    assert (len(fake.queries), len(result["metrics"])) == (queries, tests)
    assert said in " ".join((ROOT / "docs" / "canary.md").read_text().split())


def test_numpy_numbers_from_the_test_become_plain_json():
    import numpy

    assert jsonable({"z": numpy.float64("inf"), "n": [numpy.int64(3)], "p": numpy.float64(0.5)}) == \
        {"z": None, "n": [3], "p": 0.5}



def test_a_saved_test_state_that_does_not_read_is_not_measured_never_restarted(foreign, monkeypatch, tmp_path):
    _judge(foreign, monkeypatch, tmp_path, arm(foreign, "canary"), arm(foreign, "baseline"))  # the real tests
    state_path = tmp_path / "state.json"
    state = json.loads(state_path.read_text())
    for entry in state.values():
        for test in entry["tests"].values():
            test["version"] = 1  # a state an older release wrote
    state_path.write_text(json.dumps(state))
    result, _ = _judge(foreign, monkeypatch, tmp_path, arm(foreign, "canary"), arm(foreign, "baseline"),
                       now=NOW + 30)
    rows = [m for m in result["metrics"] if "saved state does not read" in m["reason"]]
    assert rows and all(m["status"] == NOT_MEASURED and "state.json" in m["reason"] for m in rows)
    assert result["verdict"] == "inconclusive" and result["exit_code"] == 3
