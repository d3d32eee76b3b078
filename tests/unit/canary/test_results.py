"""The canary verdict as types (moneypath.canary.results): a look's rows and gates decide an Outcome through
`Verdict`; a test still waiting for data is inconclusive in its row and leaves the verdict not measured, which the
JSON spells "inconclusive" (exit 3); a held gate is no evidence; the policy past max_inconclusive fails or holds;
the JSON is strict (no NaN) and no row says a fourth or fifth word it does not know."""

from __future__ import annotations

import json
import math

import pytest

from moneypath._common.exit_codes import ExitCode
from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Outcome
from moneypath.canary.results import (
    SKIPPED,
    Arm,
    CanaryVerdict,
    Decision,
    InvariantResult,
    JudgedPolicy,
    MetricRow,
    Plan,
    canary_outcome,
    decide,
)
from moneypath.canary.sequential import INCONCLUSIVE

PLAN = Plan(id="decline_ratio", provider=None, test="two proportions", unit="authorizations", description="declines",
            queries={"canary": {"bad": "b", "total": "t"}}, min_effect=0.02, min_sample=100, alpha=0.01)


def _row(status: str, needed: int = 0, rate: float | None = 2.0, **figures) -> MetricRow:
    return MetricRow.of(status, metric="decline_ratio", plan=PLAN, reason=f"{status} here",
                        canary=Arm.of(3, 60), baseline=Arm.of(30, 600), figures={"needed_canary": needed, **figures},
                        rate_per_s=rate)


def _gate(status: Outcome, judged: bool = True) -> InvariantResult:
    return InvariantResult("duplicate_charges", "no customer charged twice", status, f"gate {status}", judged=judged)


def test_a_waiting_test_is_inconclusive_and_the_verdict_not_measured_saying_what_it_needs():
    d = decide([_row(PASS), _row(INCONCLUSIVE, needed=1200)], [_gate(PASS)])
    assert d.outcome is NOT_MEASURED and d.needs is not None and d.needs.canary_events == 1200
    assert d.reason == "needs ~1200 more canary authorizations (decline_ratio), ~10 min at the current rate"
    assert canary_outcome([_row(INCONCLUSIVE)], []) is NOT_MEASURED  # the check kind: an Outcome, no word to map


def test_a_held_gate_is_no_evidence_and_a_failed_one_fails_whatever_the_tests():
    assert decide([_row(SKIPPED)], [_gate(PASS)]).outcome is NOT_MEASURED
    assert decide([_row(PASS)], [_gate(FAIL)]).outcome is FAIL
    assert decide([_row(PASS)], [_gate(NOT_MEASURED, judged=False)]).outcome is PASS  # shown, not judged
    unmeasured = decide([_row(PASS)], [_gate(NOT_MEASURED)])
    assert unmeasured.outcome is NOT_MEASURED and unmeasured.not_measured == ("gate not measured",)


@pytest.mark.parametrize("policy, outcome, held", [("hold", NOT_MEASURED, True), ("fail", FAIL, False)])
def test_past_max_inconclusive_the_policy_fails_or_holds_only_what_is_not_measured(policy, outcome, held):
    d = decide([_row(INCONCLUSIVE)], [], overdue="inconclusive 3 h after", on_inconclusive=policy)
    assert (d.outcome, d.held) == (outcome, held) and d.reason.startswith("inconclusive 3 h after: the policy ")
    assert decide([_row(PASS)], [], overdue="inconclusive 3 h after", on_inconclusive=policy).outcome is PASS


def test_the_json_spells_not_measured_inconclusive_and_is_strict():
    rows = (_row(INCONCLUSIVE, z=math.inf, p_value=math.nan), _row(SKIPPED, rate=None))
    d = decide(rows, [])
    verdict = CanaryVerdict(outcome=d.outcome, reason=d.reason, canary='track="canary"', baseline='track="baseline"',
                            since=None, at="2027-01-15T08:00:00Z", window_s=600, prometheus="http://prom",
                            catalog="moneypath.yaml", policy=JudgedPolicy(0.05, 0.8, 100, "30s", "2h", "hold"),
                            metrics=rows, needs=d.needs, history=({"at": 1.0, "tests": {}},))
    data = json.loads(json.dumps(verdict.as_json(), allow_nan=False))
    assert (data["verdict"], data["exit_code"], verdict.exit_code) == ("inconclusive", 3, ExitCode.NOT_MEASURED)
    first = data["metrics"][0]
    assert (first["status"], first["z"], first["p_value"], first["canary"]) == (
        "inconclusive", None, None, {"bad": 3, "total": 60, "ratio": 0.05})
    assert data["metrics"][1]["status"] == "skipped" and "rate_per_s" not in data["metrics"][1]
    assert data["policy"]["on_inconclusive"] == "hold" and data["needs"]["metric"] == "decline_ratio"
    assert "history" not in verdict.as_json(history=False)


def test_no_row_or_verdict_says_a_word_it_does_not_know():
    with pytest.raises(ValueError, match="a metric's status is one of"):
        MetricRow.of("maybe", metric="x", reason="")
    with pytest.raises(ValueError):
        Decision(outcome="inconclusive", reason="")  # the JSON's word for not measured is no Outcome
