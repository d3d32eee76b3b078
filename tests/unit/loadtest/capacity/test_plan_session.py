"""`moneypath capacity`'s options, checked before anything runs (moneypath.loadtest.command.capacity.plan_session)."""

from __future__ import annotations

import pytest

from moneypath import cli
from moneypath.loadtest.command.capacity import plan as capacity
from tests.conftest import CATALOG_PATH
from tests.unit.loadtest.helpers import run_cli


@pytest.mark.parametrize("value", ["0", "0%", "-10", "101", "nan"])
def test_capacity_utilization_is_checked_when_parsing(value, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["capacity", "--utilization", value])
    assert exc.value.code == 2
    assert f"argument --utilization: {value!r} must be more than 0 and at most 100" in capsys.readouterr().err


def test_capacity_utilization_is_a_share_of_the_knee():
    from moneypath.cli import loadtest as lt_cli

    assert lt_cli._utilization("50") == 0.5 and lt_cli._utilization("100%") == 1.0
    costs = capacity.UnitCosts(1.2, 0.1, 0.0005)
    with pytest.raises(ValueError):
        capacity.project(5, 50, 0, costs, [])


def test_a_tiny_step_is_refused_before_any_list_is_built():
    with pytest.raises(capacity.TooManySteps, match=r"^2\.8e\+302 steps: at most 50"):
        capacity.step_rates(20, 1e-300, 300)
    with pytest.raises(capacity.TooManySteps, match="^inf steps"):
        capacity.step_rates(20, 5e-324, 300)
    assert capacity.step_rates(20, 5, 265) == [20 + 5 * i for i in range(50)]
    assert capacity.step_rates(0.1, 0.1, 0.3) == [0.1, 0.2, 0.3]
    r = run_cli("capacity", "--step", "1e-300", "--catalog", str(CATALOG_PATH))
    assert (r.returncode, r.stderr, r.stdout) == (2, "moneypath: 2.8e+302 steps: at most 50 (raise --step or lower "
                                                     "--max)\n", "")


@pytest.mark.parametrize("first, code, said", [
    ("not measured", 3, "moneypath: no knee, the first step was not measured: not measured: Prometheus has no "
                        "authorization latency for the run"),
    ("fail", 1, "moneypath: no step met the gates, so there is no knee: start lower (--start)"),
])
def test_no_knee_on_a_first_step_not_measured_exits_3_and_says_why(monkeypatch, tmp_path, first, code, said):
    from dataclasses import asdict

    from moneypath.loadtest.command.capacity import plan_report, plan_session

    reasons = (["not measured: Prometheus has no authorization latency for the run"] if first == "not measured"
               else ["p99 over the SLO"])
    step = capacity.CapacityStep(10.0, 10.0, 4.5, 120.0, None, 0.0, None, False, reasons, status=first)
    monkeypatch.setattr(plan_session, "prepare", lambda args, where: object())
    monkeypatch.setattr(plan_session, "execute", lambda plan, say, warn: ({"steps": [asdict(step)], "knee": None},
                                                                          tmp_path))
    monkeypatch.setattr(plan_report, "table_lines", lambda result: [])
    r = run_cli("capacity", "--catalog", str(CATALOG_PATH))
    assert r.returncode == code and said in r.stderr, r.stderr
