"""A drill's verdict queries on its own window (DrillContext.confine, moneypath.generate.windows): the runbook's
steps scaled by the target's time factor and cut to the drill, the drill file's checks cut to their phase (the
mitigation for recovery), and a figure that would reach before the drill not measured."""

from __future__ import annotations

from moneypath.drills.diagnosis import Diagnosis
from moneypath.formats.drill import CheckSpec
from moneypath.formats.expect import Expect

STEP = "duplicate charges per provider, last hour"


def _asking(live, answer):
    live.counters_not_data = lambda: None  # the target's rates are data: only the step's own query is asked
    asked = []
    live.prom.answer = lambda expr: asked.append(expr) or answer
    return asked


def test_a_runbook_step_runs_scaled_and_cut_to_the_drill(live):
    assert live.drill.runbook_steps[STEP]["promql"] == \
        "sum by (provider) (increase(moneypath_duplicate_charges_total[1h]))"
    asked = _asking(live, [({"provider": "acme"}, 2.0)])
    live.now.t = live.started_at + 40
    entry = Diagnosis(live).run_step(STEP, [Expect(min=1)])
    assert asked == ["sum by (provider) (increase(moneypath_duplicate_charges_total[40s]))"]
    assert entry.ok and entry.query == asked[0]
    assert entry.window == "ranges ÷60 ([1h] → [1m]); cut to the 40 s since the phase began ([1m] → [40s])"


def test_a_step_whose_window_would_reach_before_the_drill_is_not_measured_and_not_asked(live):
    live.drill.runbook_steps[STEP]["promql"] = 'slo:error_budget_remaining:ratio{slo="authorization-availability"}'
    asked = _asking(live, [({}, 0.9)])
    live.now.t = live.started_at + 120
    entry = Diagnosis(live).run_step(STEP, [Expect(min=0)])
    assert entry.ok is None and not asked
    assert entry.result == ("not measured: looks back 12h, further than the 120 s since the phase began: it may "
                            "hold an earlier incident")


def test_recovery_checks_read_nothing_before_the_mitigation(live):
    asked = _asking(live, [({}, 0.0)])
    check = CheckSpec(name="no new duplicate", promql="sum(increase(moneypath_duplicate_charges_total[10s]))",
                      expect={"max": 0})
    live.now.t = live.started_at + 60
    assert live.run_check(check)[0] is True and asked[-1].endswith("[10s]))")  # the whole window is the drill's
    live.phase_at = live.now.t - 3  # mitigated 3 s ago
    assert live.run_check(check)[0] is True and asked[-1].endswith("[3s]))")
