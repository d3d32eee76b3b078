"""A custom alert's expr is checked like a generated one, by `moneypath lint` and by `moneypath catalog check`,
which runs every check `build` and the rule part of `lint` would (promtool is stubbed in this tier)."""

from __future__ import annotations

import pytest
import yaml

from moneypath.check.lint import ALERTS_FILE, RECORDING_FILE, lint
from moneypath.check.promql import NO_PROMTOOL, selected_series
from tests.conftest import ROOT, run_cli

FOREIGN = ROOT / "tests" / "foreign" / "moneypath.yaml"
A = ALERTS_FILE
R = RECORDING_FILE
GOOD = "sum(rate(moneypath_authorizations_total[5m])) <= 0"


@pytest.fixture(autouse=True)
def _rules_only(monkeypatch):
    monkeypatch.setattr("moneypath.check.lint.check_runbooks", lambda catalog, root, **kw: [])
    monkeypatch.setattr("moneypath.check.lint.check_drill_files", lambda catalog, root, **kw: [])


def root_with(tmp_path, expr: str, records=()):
    alert = {"alert": "MoneyPathCustom", "expr": expr, "labels": {"severity": "ticket"},
             "annotations": {"summary": "s", "description": "d", "runbook_url": "https://x/runbooks/custom.md",
                             "dashboard_url": "http://x/d/overview"}}
    docs = {A: [alert], R: list(records) or [{"record": "job:test:rate5m", "expr": GOOD}]}
    for rel, rules in docs.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]}))
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "custom.md").write_text("# custom\n")
    return tmp_path


# ---------------------------------------------------------------- lint


def test_lint_reports_a_series_neither_the_catalog_nor_a_recording_rule_has(catalog, tmp_path):
    root = root_with(tmp_path, "sum(moneypath_konbini_payments_total) < 1 and on() job:nothing:ratio > 0")
    assert lint(catalog, root, "30d") == [
        f"{A}: MoneyPathCustom: moneypath_konbini_payments_total is not a catalog metric (nor a histogram's "
        "_bucket/_count/_sum) or a recording rule",
        f"{A}: MoneyPathCustom: job:nothing:ratio is not a catalog metric (nor a histogram's _bucket/_count/_sum) "
        "or a recording rule",
    ]


def test_lint_reports_labels_of_on_ignoring_and_recorded_series_that_nothing_has(catalog, tmp_path):
    root = root_with(tmp_path, 'job:test:rate5m{region="eu"} > 0 and on (store) group_left (tier) '
                               "moneypath_ledger_imbalance_minor ignoring (shard) moneypath_ledger_imbalance_minor")
    assert lint(catalog, root, "30d") == [
        f"{A}: MoneyPathCustom: job:test:rate5m: label region is on no catalog signal or recording rule",
        f"{A}: MoneyPathCustom: on (store): label store is on no catalog signal",
        f"{A}: MoneyPathCustom: group_left (tier): label tier is on no catalog signal",
        f"{A}: MoneyPathCustom: ignoring (shard): label shard is on no catalog signal",
    ]


def test_lint_passes_functions_keywords_prometheus_series_and_recorded_series(catalog, tmp_path):
    expr = ('histogram_quantile(0.99, sum by (le) (rate(moneypath_authorization_duration_seconds_bucket[5m])))'
            ' > bool 1e3 unless on (provider) job:test:rate5m{provider="acme"} offset 5m'
            ' or absent(moneypath_authorizations_total) or vector(time()) < -Inf'
            ' or min(up{job="payments"}) == 0 or ALERTS{alertstate="firing"}'
            ' or max by (currency) (label_replace(moneypath_ledger_imbalance_minor, "x", "$1", "currency", "(rate.*)"))')
    # (an instance label kept would page once per instance: moneypath.check.instances, tests/unit/check/test_instances.py)
    assert lint(catalog, root_with(tmp_path, expr), "30d") == []


def test_selected_series_skips_functions_keywords_labels_strings_and_ranges():
    expr = ('sum by (provider) (rate(a_total{outcome="b_total"}[5m] offset 1h)) / on(provider) group_left '
            "c:d:e > bool 2 and atan2 f")
    assert selected_series(expr) == ["a_total", "c:d:e", "f"]


# ---------------------------------------------------------------- catalog check


def foreign_with_expr(tmp_path, expr: str):
    text = FOREIGN.read_text()
    start, end = text.index("    expr: |\n"), text.index("\ncost:")
    path = tmp_path / "moneypath.yaml"
    path.write_text(text[:start] + "    expr: |\n      " + expr + "\n" + text[end:])
    return path


def test_the_foreign_catalog_checks_out_and_counts_its_missing_runbook_pages(tmp_path):
    path = tmp_path / "moneypath.yaml"
    path.write_text(FOREIGN.read_text())
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "shopledgerimbalance.md").write_text("# page\n")
    result = run_cli("catalog", "check", "--catalog", str(path))
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{path}: OK — 17 signals")
    assert lines[1] == (f"no runbook page yet in {tmp_path}/runbooks/ for 7 of 8 alerts (SLO burn-rate alerts "
                        "included; `moneypath lint` names them)")


@pytest.mark.parametrize(("expr", "what"), [
    ("sum(shop_konbini_payments_total) < 1",
     "shop_konbini_payments_total is not a catalog metric (nor a histogram's _bucket/_count/_sum) or a recording rule"),
    ("sum(rate(shop_ledger_imbalance_minor[5m])) > 0",
     "rate() applied to shop_ledger_imbalance_minor, which is a gauge, not a counter or histogram _bucket/_count/_sum"),
    ('sum(rate(shop_authorizations_total{method="paypay"}[5m])) > 0',
     "shop_authorizations_total: method=\"paypay\": 'paypay' is not a declared value of method"),
    ('sum(rate(shop_authorizations_total{outcome=~"error|timout"}[5m])) > 0',
     "shop_authorizations_total: outcome=~\"error|timout\": 'timout' is not a declared value of outcome; "
     "did you mean timeout?"),
    ('sum(rate(shop_authorizations_total{provider!~"^(knet|komju)$"}[5m])) > 0',
     "shop_authorizations_total: provider!~\"^(knet|komju)$\": 'komju' is not a declared value of provider; "
     "did you mean komoju?"),
    ('sum(rate(shop_authorizations_total{method=~"kon.*|deb[i]t|paypay"}[5m])) > 0',
     "shop_authorizations_total: method=~\"kon.*|deb[i]t|paypay\": 'paypay' is not a declared value of method"),
    ('sum(rate(shop_authorizations_total{method=~"c(ash|heque)"}[5m])) > 0',
     "shop_authorizations_total: method=~\"c(ash|heque)\": 'c(ash|heque)' matches no declared value of method "
     "(card, konbini, debit)"),
    ("sum by (store) (rate(shop_authorizations_total[5m])) > 0", "by (store): label store is on no catalog signal"),
    ("sum(rate(shop_authorizations_total[90d])) > 0", "range [90d] exceeds retention 29d"),
])
def test_catalog_check_fails_on_a_custom_alert_whose_expr_lint_would_reject(tmp_path, expr, what):
    path = foreign_with_expr(tmp_path, expr)
    result = run_cli("catalog", "check", "--catalog", str(path))
    assert result.returncode == 3
    assert result.stderr == f"{path}:123: alerts.KonbiniApprovalsLow.expr: {what}\n"
    assert result.stdout == ""


def test_catalog_check_names_the_generated_rules_a_catalog_breaks(tmp_path):
    """A ledger without a `failed` outcome binds to the library, but generated dashboard panels, a recording rule and
    a built-in alert select it."""
    path = tmp_path / "moneypath.yaml"
    path.write_text(FOREIGN.read_text()
                    .replace("labels: {outcome: [committed, failed, conflict]}",
                             "labels: {outcome: [committed, rejected, conflict]}")
                    .replace('ledger_writes_total{outcome=~"failed|conflict"}',  # its map follows the change
                             'ledger_writes_total{outcome=~"rejected|conflict"}')
                    .replace("\nalerts:\n", "\nalerts:\n  LedgerWriteFailures: {severity: page, threshold: 0.01, "
                                            "summary: Ledger writes fail.}\n"))
    result = run_cli("catalog", "check", "--catalog", str(path))
    assert result.returncode == 3
    what = "shop_ledger_writes_total: outcome=\"failed\": 'failed' is not a declared value of outcome"
    board = f"{path}: (generated) dashboards/shop-ledger.json: panel"
    assert result.stderr.splitlines() == [f'{board} "Ledger write failures": {what}',
                                          f'{board} "Ledger write failure ratio": {what}',
                                          f"{path}:112: alerts.LedgerWriteFailures: {what}",
                                          f"{path}: (generated) :shop_ledger_writes:failed_ratio_rate5m: {what}"]


def test_catalog_check_reports_what_promtool_rejects_against_the_alert(tmp_path, monkeypatch):
    path = foreign_with_expr(tmp_path, "sum(rate(shop_authorizations_total[5m])) > 0")

    def promtool(rules, *options, cwd=None):
        if str(rules) != ALERTS_FILE:
            return True, ""
        return False, (f'{ALERTS_FILE}: 40:11: group "moneypath-business-alerts", rule 5, "ShopKonbiniApprovalsLow": '
                       "could not parse expression: 1:1: parse error: boom\n")

    monkeypatch.setattr("moneypath.check.promql.promtool_check_rules", promtool)
    result = run_cli("catalog", "check", "--catalog", str(path))
    assert result.returncode == 3
    assert result.stderr == (f"{path}:123: alerts.KonbiniApprovalsLow.expr: promtool: could not parse expression: "
                             "1:1: parse error: boom\n")


def test_catalog_check_without_promtool_says_so_and_passes(monkeypatch):
    monkeypatch.setattr("moneypath.check.promql.promtool_check_rules", lambda path, *o, cwd=None: NO_PROMTOOL)
    result = run_cli("catalog", "check", "--catalog", str(FOREIGN))
    assert result.returncode == 0, result.stderr
    assert "promtool is not installed: the rule expressions were checked without parsing them" in result.stdout


@pytest.mark.parametrize("generator", ["rule_artifacts", "dashboard_artifacts"])
def test_a_generator_that_would_crash_in_build_fails_catalog_check_in_one_line(monkeypatch, generator):
    def crash(c):
        raise KeyError("shop_fraud_decisions_total")

    monkeypatch.setattr(f"moneypath.generate.build.{generator}", crash)
    result = run_cli("catalog", "check", "--catalog", str(FOREIGN))
    what = "rules" if generator == "rule_artifacts" else "dashboards"
    assert result.returncode == 3
    assert result.stderr == (f"{FOREIGN}: (build): the {what} cannot be generated: "
                             "KeyError: 'shop_fraud_decisions_total'\n")
