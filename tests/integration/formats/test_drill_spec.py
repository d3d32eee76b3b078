"""Drill files: the real promtool parses their queries (the rest: tests/unit/formats/test_drill_spec.py)."""

from __future__ import annotations

from moneypath.check.drill_files import check_drill_files
from tests.support.drill_files import set_field, variant


def test_promtool_parses_drill_queries(catalog, tmp_path):
    variant(tmp_path, set_field("steady_state.0.promql", "sum(rate(moneypath_authorizations_total[10s])"))
    problems = check_drill_files(catalog, tmp_path)
    assert len(problems) == 1 and problems[0].startswith("runbooks/drills/x.yaml: steady_state.0.promql: promtool:")
