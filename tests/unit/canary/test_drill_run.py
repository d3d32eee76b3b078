"""The canary drill's parts that need no stack (moneypath.canary.drill_run, baseline_load.WeightedSplit): the weighted
split sends each track its exact share, evenly spread; a release passes only on the verdict it expected, on time
for a money fault, and is not measured without one; the report has a row per release."""

from __future__ import annotations

import time

import pytest

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS
from moneypath.canary.drill_run import markdown, release_status
from moneypath.drills.baseline_load import Load, Mix, WeightedSplit
from moneypath.formats.requests import Requests


def test_the_split_sends_the_canary_exactly_its_share_evenly():
    split = WeightedSplit([0.9, 0.1])
    picks = [split.next() for _ in range(1000)]
    assert picks.count(1) == 100
    at = [i for i, k in enumerate(picks) if k == 1]
    assert {b - a for a, b in zip(at, at[1:])} == {10}  # one in ten, never two in a row, never a gap of 11
    three = WeightedSplit([0.5, 0.3, 0.2])
    picks = [three.next() for _ in range(100)]
    assert [picks.count(k) for k in range(3)] == [50, 30, 20]
    even = WeightedSplit([1, 1])
    assert [even.next() for _ in range(4)] == [0, 1, 0, 1]  # no weights: round-robin, as before


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1]])
def test_weights_that_split_nothing_are_refused(weights):
    with pytest.raises(ValueError):
        WeightedSplit(weights)


def test_the_load_wants_one_weight_per_service():
    requests = Requests.model_validate({"authorize": {"path": "/pay", "id": "id", "outcome": "state"},
                                        "approved": ["ok"]})
    mix = Mix({"acme": 1}, {"EUR": 1}, {"card": 1}, 100, 100, 0)
    with pytest.raises(ValueError, match="3 weights for 2 service URLs"):
        Load(["http://a", "http://b"], {}, requests, mix, 1, str, weights=[0.8, 0.1, 0.1])
    assert Load(["http://a", "http://b"], {}, requests, mix, 1, str, weights=[0.9, 0.1]).split.weights == [0.9, 0.1]


def test_a_release_passes_only_on_the_verdict_it_expected():
    assert release_status("fail", FAIL)[0] == PASS
    assert release_status("pass", PASS)[0] == PASS
    assert release_status("fail", PASS) == (FAIL, "expected fail, the judge said pass")
    assert release_status("pass", FAIL)[0] == FAIL
    assert release_status("pass", None)[0] == NOT_MEASURED  # inconclusive at the budget: never a pass
    assert release_status("fail", "inconclusive")[0] == NOT_MEASURED
    assert release_status("fail", FAIL, first_occurrence_ok=False)[0] == FAIL  # failed, but too late
    assert release_status("fail", FAIL, first_occurrence_ok=None)[0] == NOT_MEASURED  # no duplicate seen to time


def test_the_report_has_a_row_per_release_with_its_figures():
    release = {"release": "duplicate-capture", "expect": "fail", "verdict": "fail", "status": "pass",
               "reason": "fail, as expected", "time_to_verdict_s": 12.0, "canary_authorizations": 70,
               "baseline_authorizations": 630, "duplicate_to_fail_s": 2.5, "duplicate_bound_s": 3.0,
               "faults": [{"where": "providersim", "name": "duplicate_capture"}],
               "looks": [{"t_s": 12.0, "verdict": "fail", "reason": "duplicate_charges: 1 in the canary"}]}
    text = markdown({"title": "t", "rate": 80, "weight": 0.1, "judge_every_s": 2, "verdict": "pass",
                     "target": {"scrape_interval_s": 1, "canary_selector": 'track="canary"',
                                "baseline_selector": 'track="baseline"'}, "releases": [release]})
    assert ("| duplicate-capture | fail | fail | 12 s | 70 | 630 | 2.5 s (≤ 3 s) | PASS: fail, as expected |"
            in text), text
    assert "- T+12 s: fail: duplicate_charges: 1 in the canary" in text


def test_each_release_is_judged_until_a_verdict_or_its_budget(catalog, monkeypatch):
    from moneypath.canary import drill_run as canary
    from moneypath.canary.drill_file import CanaryDrill

    drill = CanaryDrill.model_validate({
        "kind": "canary", "title": "t", "rate": 10, "warm_up": 0, "judge_every": 0.05,
        "load": {"providers": {"acme": 1}, "currencies": {"EUR": 1}, "amounts": {"min": 1, "max": 2},
                 "requests": {"authorize": {"path": "/pay", "id": "id", "outcome": "state"}, "approved": ["ok"]}},
        "releases": [{"name": "bad", "expect": "fail", "budget": 5,
                      "faults": [{"where": "service", "name": "fraud_spike", "params": {"rate": 0.5}}]},
                     {"name": "quiet", "expect": "pass", "budget": 0.2}]})
    switched, looks, stops, sinces = [], [], [], []

    class Load:
        def __init__(self, *args, **kwargs):
            pass

        def start(self):
            pass

        def stop(self):
            stops.append(time.time())

        def snapshot(self):
            return []

    def judge(catalog, prometheus, canary_sel, baseline_sel, since, policy, state):
        looks.append(canary_sel)
        sinces.append(since)
        return {"verdict": "fail" if len(looks) == 3 else "inconclusive", "reason": f"look {len(looks)}"}

    target = canary.CanaryTarget("http://base", "http://canary", "http://127.0.0.1:9", 'track="baseline"',
                                 'track="canary"')
    run = canary.CanaryDrillRun(drill, catalog, target, say=lambda text: None, judge=judge)
    monkeypatch.setattr(run, "_switch", lambda fault, on, budget=0.0: switched.append((fault.name, on)))
    monkeypatch.setattr(run, "_wait_scraped", lambda: None)
    monkeypatch.setattr(run, "_instruments", lambda: None)  # tests/unit/canary/test_drill_instruments.py
    monkeypatch.setattr(run, "_reconcile", lambda load, since: {})  # the arms' counts: tests/unit/canary/test_arms.py
    monkeypatch.setattr(canary, "Load", Load)
    monkeypatch.setattr(canary, "QUIET_S", 0.1)
    journal = run.run()
    bad, quiet = journal["releases"]
    assert (bad["verdict"], bad["status"], len(bad["looks"])) == ("fail", PASS, 3)
    assert switched == [("fraud_spike", True), ("fraud_spike", False)]  # on for its release, off after it
    assert (quiet["verdict"], quiet["status"]) == ("inconclusive", NOT_MEASURED)  # the budget ran out: no pass
    assert "no verdict within the budget" in quiet["reason"] and set(looks) == {'track="canary"'}
    assert journal["verdict"] == NOT_MEASURED
    # the canary is not restarted: a quiet gap keeps the first release's payments out of the second's window
    assert sinces[-1] - stops[0] >= 0.1, (stops, sinces)


def test_the_load_sends_the_canary_its_weight_and_says_which_payment_went_there(monkeypatch):
    import time

    async def flow(self, client, outcome, values):
        return None  # no request sent

    monkeypatch.setattr(Load, "_flow", flow)
    requests = Requests.model_validate({"authorize": {"path": "/pay", "id": "id", "outcome": "state"},
                                        "approved": ["ok"]})
    load = Load(["http://127.0.0.1:1", "http://127.0.0.1:2/"], {}, requests, Mix({"a": 1}, {"EUR": 1}, {"card": 1},
                100, 200, 0), rate=400, major=lambda minor, currency: str(minor), weights=[0.9, 0.1])
    load.start()
    deadline = time.monotonic() + 5
    while len(load.snapshot()) < 100 and time.monotonic() < deadline:
        time.sleep(0.02)
    load.stop()
    sent = [o.instance for o in load.snapshot()][:100]
    assert len(sent) == 100 and sent.count(1) == 10 and sent[5] == 1, sent
