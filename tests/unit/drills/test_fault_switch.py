"""The runner's fault lifecycle (moneypath.drills.fault_switch), on fakes, no stack: cleared at mitigation, at its
end, on a halt or the blast-radius cap, and when the drill ends."""

from __future__ import annotations

from moneypath._common.verdict import jsonable
from moneypath.drills.journal import Objective

# ---------------------------------------------------------------- the runner's fault lifecycle (fakes, no stack)


def _deletes(run):
    return [c for c in run.calls if c[0] == "DELETE"]


def test_clear_fault_false_leaves_the_fault_on_until_its_duration_ends(live):
    live.drill.mitigation.clear_fault = False
    live.faults.inject()
    assert live.faults.active and live.faults.end == 1060.0  # 60 s at the local time factor
    live.now.t = 1020.0
    live.mitigate()
    assert live.faults.active and _deletes(live) == []
    mitigated = next(o for o in live.objectives if o.name == "mitigated")
    assert mitigated.ok and "fault left on (mitigation.clear_fault: false)" in mitigated.reason
    live.now.t = 1060.0
    live.tick()  # the watcher ends it with its duration
    assert not live.faults.active and live.faults.record.cleared_at == 1060.0
    assert _deletes(live) == [("DELETE", "http://sim/admin/faults/duplicate_capture?provider=acme",
                               "Bearer admin-token", None)]


def test_clear_fault_true_clears_at_mitigation(live):
    live.faults.inject()
    live.now.t = 1020.0
    live.mitigate()
    assert not live.faults.active and live.faults.record.cleared_at == 1020.0 and len(_deletes(live)) == 1
    assert next(o for o in live.objectives if o.name == "mitigated") == Objective(name="mitigated", ok=True,
                                                                                reason="fault cleared")


def test_a_fault_left_on_is_cleared_when_the_drill_ends(live, monkeypatch):
    live.drill.mitigation.clear_fault = False

    def phases():
        live.faults.inject()
        live.mitigate()
        raise RuntimeError("boom")  # any exit path

    monkeypatch.setattr(live, "_run_phases", phases)
    journal = live.run()
    assert not live.faults.active and len(_deletes(live)) == 1
    assert "cleanup" in next(e["text"] for e in journal["timeline"] if e["text"].startswith("CLEAR"))
    assert journal["verdict"] == "fail"


def test_the_watcher_ends_the_fault_at_its_declared_duration(live):
    live.faults.inject()
    live.now.t = 1059.0
    live.tick()
    assert live.faults.active and _deletes(live) == []
    live.now.t = 1060.5
    live.tick()
    assert not live.faults.active and len(_deletes(live)) == 1
    assert any(e.text == "fault duration (60 s) reached" for e in live.timeline)


def test_remediation_actions_are_called_and_judged(live):
    from moneypath.formats.drill import Action

    live.drill.mitigation.actions = [Action.model_validate(
        {"name": "route card payments to globex", "where": "service", "method": "POST", "path": "/admin/routing",
         "json": {"provider": "globex"}})]
    live.faults.inject()
    live.mitigate()
    post = next(c for c in live.calls if c[0] == "POST")
    assert post == ("POST", "http://svc/admin/routing", "Bearer admin-token", '{"provider":"globex"}')
    mitigated = next(o for o in live.objectives if o.name == "mitigated")
    assert mitigated.ok and "route card payments to globex: POST http://svc/admin/routing → 200" in mitigated.reason
    live.objectives.clear()
    live.status = 500
    live.mitigate()  # the fault is already cleared; the action now fails
    mitigated = next(o for o in live.objectives if o.name == "mitigated")
    assert not mitigated.ok and "→ 500" in mitigated.reason


def test_a_halt_condition_clears_the_fault_and_fails_the_drill(live):
    live.faults.inject()
    live.now.t = 1005.0
    live.tick()
    assert live.faults.active and live.faults.record.halted is None  # the ledger balances: no halt
    live.prom.answer = lambda expr: [({}, 250.0)] if "ledger_imbalance" in expr else []
    live.tick()
    assert not live.faults.active and len(_deletes(live)) == 1
    assert live.faults.record.halted.startswith("halt condition 'the ledger itself is unbalanced' holds")
    journal = live.finish()
    halted = next(o for o in journal["objectives"] if o["name"] == "halted")
    assert not halted["ok"] and "the ledger itself is unbalanced" in halted["reason"]
    assert journal["verdict"] == "fail"


def test_a_halt_condition_that_measures_nothing_cannot_halt_and_the_timeline_says_so_once(live):
    live.prom.answer = lambda expr: []
    live.faults.inject()
    for t in (1005.0, 1006.0, 1007.0):
        live.now.t = t
        live.tick()
    assert live.faults.active and live.faults.record.halted is None
    said = [e.text for e in live.timeline if "halt condition" in e.text]
    assert len(said) == 1 and said[0].startswith("halt condition 'the ledger itself is unbalanced' not measured: ")
    assert said[0].endswith(": it cannot halt the fault")


def test_the_blast_radius_cap_clears_the_fault_and_fails_the_drill(live, catalog):
    duplicates = catalog.metric("duplicate_charged_minor_total")
    live.faults.inject()
    live.now.t = 1010.0
    live.prom.answer = lambda expr: [({"currency": "EUR"}, 1_999_999.0)] if duplicates in expr else []
    live.tick()
    assert live.faults.active  # under the cap (2,000,000 minor units in any currency)
    live.prom.answer = lambda expr: [({"currency": "EUR"}, 2_000_001.0)] if duplicates in expr else []
    live.tick()
    assert not live.faults.active and "EUR 20,000.01 charged twice (cap EUR 20,000.00)" in live.faults.record.halted
    assert any(e.kind == "halt" for e in live.timeline)
    journal = live.finish()
    assert [o["name"] for o in journal["objectives"]][:1] == ["halted"] and journal["verdict"] == "fail"


def test_a_drill_that_was_not_halted_has_no_halted_objective(live):
    live.faults.inject()
    live.mitigate()
    assert "halted" not in [o["name"] for o in live.finish()["objectives"]]


def test_without_a_ledger_database_the_unreconciled_difference_is_not_measured(live, tmp_path):
    from moneypath.drills.report.rendering import render

    live.faults.inject()
    live.mitigate()
    journal = jsonable(live.finish())
    assert journal["money"]["unreconciled_minor"] is None
    assert any("unreconciled not checked (no --db-url)" in e["text"] for e in journal["timeline"])
    md = render(journal, tmp_path / "report").read_text()
    assert "| unreconciled difference | _not checked: no --db-url_ |" in md
