"""`moneypath catalog check` parses the generated rules with the real promtool: a custom alert's expr that does not
parse fails the check against alerts.<Key>.expr, as `build` + `lint` would."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
FOREIGN = ROOT / "tests" / "foreign" / "moneypath.yaml"


def test_the_foreign_catalog_passes_promtool():
    result = run_cli("catalog", "check", "--catalog", str(FOREIGN))
    assert result.returncode == 0, result.stderr
    assert "promtool" not in result.stdout


def test_an_expr_promtool_cannot_parse_fails_the_check_against_the_alert(tmp_path):
    text = FOREIGN.read_text()
    start, end = text.index("    expr: |\n"), text.index("\ncost:")
    path = tmp_path / "moneypath.yaml"
    path.write_text(text[:start] + "    expr: |\n      sum(rate(shop_authorizations_total[10m]) < 0.5\n" + text[end:])
    result = run_cli("catalog", "check", "--catalog", str(path))
    assert result.returncode == 3
    [line] = result.stderr.splitlines()
    where, _, rest = line.partition(": ")  # the catalog and the line of the broken expr
    assert where.startswith(f"{path}:") and where.removeprefix(f"{path}:").isdigit(), line
    assert rest.startswith("alerts.KonbiniApprovalsLow.expr: promtool: "), line
    assert "parse error" in line
