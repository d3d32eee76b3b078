"""The canary drill's conservation of counts per arm (moneypath.canary.arms): each track's authorizing attempts
against its counter read by the judge's selector; an arm that does not reconcile turns the judge's verdict into
inconclusive (not measured) with its line. No service and no Prometheus: the load's outcomes and the counter's raw
samples are given."""

from __future__ import annotations

import time

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Check
from moneypath.canary import arms
from moneypath.canary.drill_run import ReleaseResult
from moneypath.drills.baseline_load import PaymentOutcome
from moneypath.formats.requests import Requests

START = 1000.0
REQUESTS = Requests.model_validate({"authorize": {"path": "/pay", "id": "id", "outcome": "state"},
                                    "approved": ["authorized"], "counter": {"outcomes": {"authorized": "approved"}}})


class FakeLoad:
    """What the drills' load kept: per arm, one payment a second, each one attempt answered 0.1 s later."""

    def __init__(self, per_arm: int = 20):
        self.outcomes = [PaymentOutcome(t=START + 0.5 + i, provider="acme", currency="EUR", amount_minor=100,
                                        correlation_id=f"c{arm}{i}", payment_id=f"p{arm}{i}", state="authorized",
                                        instance=arm, auth_calls=[[START + 0.5 + i, START + 0.6 + i]],
                                        auth_state="authorized")
                         for arm in (0, 1) for i in range(per_arm)]

    def snapshot(self):
        return list(self.outcomes)


class FakeProm:
    """The drills' Prometheus client: each arm's counter, scraped every second, counting `share` of its payments."""

    def __init__(self, share: dict[str, float]):
        self.share, self.queries = share, []

    def close(self):
        pass

    def instant(self, query, at=None):
        self.queries.append(query)
        arm = next((a for a in self.share if f'track="{a}"' in query), None)
        if arm is None:
            return []
        values = [[START + s, str(min(s, 20) * self.share[arm])] for s in range(0, 24)]
        return [{"metric": {"outcome": "approved", "track": arm, "instance": f"127.0.0.1:{9000 + len(arm)}",
                            "job": f"shop-{arm}"}, "values": values}]


def test_each_arm_is_read_by_the_judges_selector_and_its_own_payments(catalog):
    load, prom = FakeLoad(), FakeProm({"baseline": 1.0, "canary": 0.5})
    base = arms.reconcile(prom, catalog, REQUESTS, load, 0, "baseline", 'track="baseline"', START)
    canary = arms.reconcile(prom, catalog, REQUESTS, load, 1, "canary", 'track="canary"', START)
    metric = catalog.metric("authorizations_total")
    assert prom.queries[0].startswith(f'{metric}{{track="baseline"}}[')
    assert base.outcome is PASS, base.why
    assert canary.outcome is FAIL
    assert canary.why == ('the metrics counted 10 of 20 authorizations sent to the canary (track="canary") (0.50; 20 '
                          'acknowledged): several workers without multiprocess mode, or another instance scraped')
    assert [c.outcome for c in arms.calls(load, catalog, REQUESTS, 1)] == ["approved"] * 20


def test_an_arm_prometheus_does_not_scrape_is_not_measured(catalog):
    check = arms.reconcile(FakeProm({"baseline": 1.0}), catalog, REQUESTS, FakeLoad(), 1, "canary", 'track="canary"',
                           START)
    assert check.outcome is NOT_MEASURED
    assert check.why == 'not measured: no moneypath_authorizations_total series scraped from the canary (track="canary")'


def test_an_arm_that_does_not_reconcile_makes_the_judges_verdict_inconclusive():
    result = ReleaseResult("latency", "fail", verdict="fail", status=PASS, reason="fail, as expected",
                           time_to_verdict_s=4.0)
    line = "the metrics counted 10 of 20 authorizations sent to the canary (track=\"canary\") (0.50; 20 acknowledged)"
    arms.apply(result, {"baseline": Check(name="conservation", outcome=PASS, why="the metrics counted 20 of 20"),
                        "canary": Check(name="conservation", outcome=FAIL, why=line)})
    assert (result.verdict, result.status, result.time_to_verdict_s) == ("inconclusive", NOT_MEASURED, None)
    assert result.reason == (f"not measured: the judge's metrics for the canary are not the arm's (the judge said "
                             f"fail): the canary's metrics: {line}")
    assert result.conservation == {"baseline": {"outcome": "pass", "line": "the metrics counted 20 of 20"},
                                   "canary": {"outcome": "fail", "line": line}}


def test_arms_that_reconcile_leave_the_verdict_as_the_judge_gave_it():
    result = ReleaseResult("good", "pass", verdict="pass", status=PASS, reason="pass, as expected")
    arms.apply(result, {"baseline": Check(name="conservation", outcome=PASS, why="ok"),
                        "canary": Check(name="conservation", outcome=PASS, why="ok")})
    assert (result.verdict, result.status, result.reason) == ("pass", PASS, "pass, as expected")
    assert set(result.conservation) == {"baseline", "canary"}


def test_a_drill_whose_canary_arm_miscounts_reads_inconclusive_not_pass(catalog, monkeypatch):
    from moneypath.canary import drill_run as canary
    from moneypath.canary.drill_file import CanaryDrill

    drill = CanaryDrill.model_validate({
        "kind": "canary", "title": "t", "rate": 10, "warm_up": 0, "judge_every": 0.05,
        "load": {"providers": {"acme": 1}, "currencies": {"EUR": 1}, "amounts": {"min": 1, "max": 2},
                 "requests": REQUESTS.model_dump(exclude_unset=True)},
        "releases": [{"name": "good", "expect": "pass", "budget": 5}]})
    load = FakeLoad()

    class Load:
        def __init__(self, *args, **kwargs):
            pass

        def start(self):
            pass

        def stop(self):
            pass

        def snapshot(self):
            return load.snapshot()

    target = canary.CanaryTarget("http://base", "http://canary", "http://127.0.0.1:9", 'track="baseline"',
                                 'track="canary"')
    run = canary.CanaryDrillRun(drill, catalog, target, say=lambda text: None,
                                judge=lambda *a: {"verdict": "pass", "reason": "every metric within"})
    run.prom = FakeProm({"baseline": 1.0, "canary": 0.5})
    monkeypatch.setattr(run, "_wait_scraped", lambda: None)
    monkeypatch.setattr(canary, "Load", Load)
    monkeypatch.setattr(canary, "QUIET_S", 0.0)
    monkeypatch.setattr(canary.conservation, "settle_s", lambda interval: 0.0)
    monkeypatch.setattr(run, "clock", lambda: START if not run.results else time.time())
    journal = run.run()
    (good,) = journal["releases"]
    assert (good["verdict"], good["status"], journal["verdict"]) == ("inconclusive", NOT_MEASURED, NOT_MEASURED)
    assert "the canary's metrics: the metrics counted 10 of 20 authorizations sent" in good["reason"]
    assert good["conservation"]["baseline"]["outcome"] == "pass"
    md = canary.markdown(journal)
    assert '- conservation of counts (canary): FAIL: the metrics counted 10 of 20' in md
