"""The cost simulation the canary benchmark calls: `run(seed, runs)` gives one row per case with shares that add
up, and the same seed the same rows; arguments that cannot make a run are one line before anything is drawn."""

from __future__ import annotations

import pytest
from benchmarks import canary_cost_sim


def test_a_run_gives_one_row_per_case_repeatably():
    rows = canary_cost_sim.run(5, 1, alpha=0.05, cases=("dearer", "healthy"))
    assert [r["case"] for r in rows] == ["+2x the tolerance", "+0 (healthy)"]
    for r in rows:
        assert r["failed"] + r["passed"] + r["undecided"] == pytest.approx(1.0) and r["fixed_sample"] > 100
    assert canary_cost_sim.run(5, 1, alpha=0.05, cases=("dearer", "healthy")) == rows


@pytest.mark.parametrize("argv", [["--runs", "0"], ["--alpha", "0.6"], ["--cases", "cheaper"]])
def test_arguments_that_cannot_make_a_run_are_one_line(monkeypatch, argv):
    monkeypatch.setattr("sys.argv", ["canary_cost_sim.py", *argv])
    monkeypatch.setattr(canary_cost_sim, "run_one", lambda *a, **k: pytest.fail("a canary was drawn"))
    with pytest.raises(SystemExit) as exited:
        canary_cost_sim.main()
    assert str(exited.value).startswith("canary_cost_sim: ") and "\n" not in str(exited.value)
