"""The gates that read a detector's zero (duplicate charges, the ledger's balance, the reconciliation's backlog) pass
only when the detector's heartbeat shows a run within the run's window (moneypath.check.detector_runs); a figure that is
not zero fails whatever the heartbeat."""

from __future__ import annotations

from moneypath.catalog.conventions import Key
from moneypath.loadtest.command import gates
from tests.support.check_kinds_checks import _gates, _scenario, _summary
from tests.unit.loadtest.helpers import FakePrometheus

START, END = 1_800_000_000.0, 1_800_000_120.0  # 08:00:00 to 08:02:00 UTC


def _observe(monkeypatch, catalog, last_run: dict[str, float]):
    from moneypath.loadtest.command import observe

    beat = catalog.metric(Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS)
    answers = {f'{beat}{{detector="{d}"}}': [{"metric": {}, "value": [END, str(t)]}] for d, t in last_run.items()}
    answers[catalog.metric(Key.DUPLICATE_CHARGES_TOTAL)] = [{"metric": {}, "value": [END, "0"]}]
    monkeypatch.setattr(observe, "Prometheus", FakePrometheus(answers))
    return observe.Observer(catalog, "http://127.0.0.1:9").observe(START, END, gates.thresholds(catalog, 30), None,
                                                                    None)


def test_the_observer_names_each_gate_whose_detector_did_not_run_in_the_window(monkeypatch, catalog):
    out = _observe(monkeypatch, catalog, {"duplicates": START - 60, "reconciliation": START + 30})
    beat = catalog.metric(Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS)
    assert out.duplicate_charges == 0 and set(out.unseen) == {"duplicate_charges", "ledger_balanced"}
    assert out.unseen["duplicate_charges"] == (
        f'not measured: the duplicate detector was not seen running ({beat}{{detector="duplicates"}} did not advance '
        "between 08:00:00 and 08:02:00 UTC: its last run was at 07:59:00)")
    assert out.unseen["ledger_balanced"].endswith("did not advance between 08:00:00 and 08:02:00 UTC: Prometheus has "
                                                  "no such series)")


def test_a_zero_from_an_unseen_detector_is_not_measured_and_a_count_fails_whatever_the_heartbeat(catalog):
    line = "not measured: the duplicate detector was not seen running (…)"
    [dup] = [g for g in _gates(catalog, _summary(), unseen={"duplicate_charges": line}) if g.name == "duplicate_charges"]
    assert (dup.status, dup.observed, dup.reason) == ("not measured", "0, detector unseen", line)
    result = _gates(catalog, _summary(), duplicate_charges=2, unseen={"duplicate_charges": line})
    [dup] = [g for g in result if g.name == "duplicate_charges"]
    assert dup.status == "fail" and "counted 2 duplicate charges" in dup.reason
    seen = _gates(catalog, _summary(), _scenario(catalog))
    assert {g.name: g.status for g in seen}["duplicate_charges"] == "pass"
