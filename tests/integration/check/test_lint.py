"""moneypath.check.lint with the real promtool: what it reports, and a PATH without it (the rest:
tests/unit/check/test_lint.py)."""

from __future__ import annotations

from moneypath.check.lint import lint
from tests.support.lint import (
    RETENTION,
    R,
    _rules_only,  # noqa: F401 - autouse: the stub runbook pages are not judged here
    make_root,
    needs_promtool,
    record,
)


@needs_promtool
def test_an_expression_promtool_cannot_parse_is_reported_with_the_rule_name(catalog, tmp_path):
    root = make_root(tmp_path, records=[record(expr="sum(rate(moneypath_authorizations_total[5m])")])
    problems = lint(catalog, root, RETENTION)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{R}: job:test:rate5m: promtool: could not parse expression: ")
    assert "unclosed left parenthesis" in problems[0]


@needs_promtool
def test_a_rule_promtool_rejects_as_a_whole_is_reported_against_the_file(catalog, tmp_path):
    root = make_root(tmp_path, records=[{**record(), "bogus_field": 1}])
    assert lint(catalog, root, RETENTION) == [
        f"{R}: (file): promtool: yaml: unmarshal errors:",
        f"{R}: (file): promtool: line 6: field bogus_field not found in type rulefmt.RuleNode",
    ]


def test_promtool_missing_from_path_is_one_problem(catalog, tmp_path, monkeypatch):
    root = make_root(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert lint(catalog, root, RETENTION) == [f"{root}: (file): promtool is not on PATH, rule expressions were not checked"]
