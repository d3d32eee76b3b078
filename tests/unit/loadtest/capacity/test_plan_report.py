"""The capacity report (moneypath.loadtest.command.capacity.plan_report): tables, plots, a team's catalog with
features off."""

from __future__ import annotations

import json

import pytest

from moneypath.loadtest.command.capacity import plan as capacity
from moneypath.loadtest.command.capacity import plan_report
from tests.unit.loadtest.helpers import foreign_catalog, step


def test_capacity_report_renders_table_and_plot(tmp_path, catalog, spec):
    steps = [step(20, True, 90), step(40, True, 140), step(60, False, 900)]
    result = capacity.plan(catalog, spec, steps, current=5, utilization=1.0)
    assert result["knee"]["rate"] == 40 and [p["scale"] for p in result["projections"]] == [1, 10, 100]
    lines = plan_report.table_lines(result)
    assert any(line.startswith("knee: 40 requests/s = 18.0 authorizations/s per instance") for line in lines)
    assert any(line.strip().startswith("100x") for line in lines)
    plan_report.render(result, tmp_path)
    for name in ("capacity.json", "capacity.md", "capacity.html", "capacity.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "capacity.json").read_text())["projections"][2]["instances"] == 28


def test_a_plan_with_saturation_and_a_postgres_run_reports_both(tmp_path, catalog, spec):
    from dataclasses import replace

    steps = [replace(step(r, ok, p99), concurrency=c) for r, ok, p99, c in
             ((100, True, 90, 8.0), (200, True, 120, 17.0), (300, True, 180, 30.0), (340, False, 900, 80.0))]
    sat = replace(step(330, True, 700, auth=150), closed_loop=True, users=64, concurrency=64.0,
                  limit="service", limit_reason="service CPU at 96% of its ceiling")
    compare = {"database": "postgresql", "workers": 2, "one": replace(step(200, True, auth=90), limit_reason="x"),
               "many": replace(step(300, True, auth=150), limit_reason="y"),
               "steps": [step(150, True, 100), step(250, True, 160), step(320, False, 800)]}
    result = capacity.plan(catalog, spec, steps, current=5, utilization=1.0, saturation=sat, database="sqlite",
                           compare=compare)
    assert result["knee"]["rate"] == 300 and result["knee_share_of_saturation"] == pytest.approx(135 / 150)
    assert result["usl"]["fit"] is not None and len(result["usl"]["points"]) == 5
    assert result["projections"][2]["feasible"] is False
    cmp_ = result["compare"]
    assert cmp_["contention"] == pytest.approx(2 * 90 / 150 - 1)
    assert cmp_["per_process_authorizations_per_s"] == pytest.approx(112.5 * (1 + cmp_["contention"]) / 2)
    assert all(p["database"] == "postgresql" for p in cmp_["projections"])
    lines = plan_report.table_lines(result)
    assert lines[0].startswith("saturation (closed loop, 64 users): 330.0 requests/s = 150.0 authorizations/s")
    assert any(line.startswith("the knee carries 90% of the saturation throughput") for line in lines)
    assert any(line.startswith("Universal Scalability Law: lambda") for line in lines)
    assert any(line.startswith("database: sqlite (one SQLite file") for line in lines)
    assert any("100x: needs more than one SQLite writer" in line for line in lines)
    assert any(line.startswith("beside it: postgresql, 2 service processes") for line in lines)
    plan_report.render(result, tmp_path)
    html = (tmp_path / "capacity.html").read_text()
    assert "Universal Scalability Law" in html and (tmp_path / "capacity.png").stat().st_size > 0


def test_capacity_without_fraud_has_no_fraud_column(tmp_path, foreign, foreign_spec):
    steps = [step(8, True, 90), step(16, True, 140), step(24, False, 900)]
    result = capacity.plan(foreign, foreign_spec, steps, current=2, utilization=1.0)
    lines = plan_report.table_lines(result)
    header = next(line for line in lines if line.strip().startswith("scale"))
    assert header.split() == ["scale", "authorizations/s", "instances", "p99", "infra/tx", "fees/tx", "total/tx",
                              "per", "month"]
    plan_report.render(result, tmp_path)
    md = (tmp_path / "capacity.md").read_text()
    assert "fraud" not in md and "provider fees" in md


def test_capacity_without_the_cost_feature_plans_instances_and_p99_only(tmp_path, foreign_spec):
    from dataclasses import replace

    c = foreign_catalog(cost=False)
    assert capacity.unit_costs(c, foreign_spec) is None
    # without the cost feature the service accrues no cost: the steps observed none
    steps = [replace(step(r, ok, p99), cost_per_authorization_usd=None) for r, ok, p99 in ((8, True, 90),
                                                                                         (16, True, 140),
                                                                                         (24, False, 900))]
    result = capacity.plan(c, foreign_spec, steps, current=2, utilization=1.0)
    assert result["unit_costs"] is None
    assert [p["instances"] for p in result["projections"]] == [1, 3, 28]
    assert all(p["usd_per_authorization"] is None for p in result["projections"])
    lines = plan_report.table_lines(result)
    assert next(line for line in lines if line.strip().startswith("scale")).split() == [
        "scale", "authorizations/s", "instances", "p99"]
    plan_report.render(result, tmp_path)
    for name in ("capacity.json", "capacity.md", "capacity.html", "capacity.png"):
        assert (tmp_path / name).stat().st_size > 0
    text = (tmp_path / "capacity.md").read_text()
    assert "$" not in text and "cost model" not in text.lower().replace("(no cost model)", "")
