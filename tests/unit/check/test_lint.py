"""moneypath.check.lint: each check reports the exact line; the repository (rules, runbooks, drills) passes."""

from __future__ import annotations

import shutil

import pytest
import yaml

from moneypath.check.lint import FILES, lint, lint_verdict, parse_duration
from moneypath.formats.scenarios import SCENARIO_FILE
from moneypath.generate.rules import alert_rules
from tests.conftest import ROOT, SHIPPED_SCENARIOS
from tests.support.lint import (
    RETENTION,
    A,
    R,
    _rules_only,  # noqa: F401 - autouse: the stub runbook pages are not judged here
    alert,
    make_root,
    needs_promtool,
    record,
)


def copy_repo_rules(tmp_path):
    for rel in FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    (tmp_path / "runbooks").mkdir()
    return tmp_path


def runbook_pages(rel=A, root=ROOT):
    rules = [r for g in yaml.safe_load((root / rel).read_text())["groups"] for r in g["rules"]]
    return sorted({r["annotations"]["runbook_url"].rsplit("/", 1)[1] for r in rules})


# ---------------------------------------------------------------- files


def test_a_clean_root_has_no_problems(catalog, tmp_path):
    assert lint(catalog, make_root(tmp_path), RETENTION) == []


def test_a_missing_file_is_one_problem_not_a_traceback(catalog, tmp_path):
    root = make_root(tmp_path)
    (root / R).unlink()
    assert lint(catalog, root, RETENTION) == [f"{R}: (file): file is missing"]


def test_a_bad_scenario_file_is_one_line_per_problem_naming_the_file_and_the_key(catalog, tmp_path):
    root = make_root(tmp_path)
    (root / "loadtests").mkdir()
    shutil.copy(SHIPPED_SCENARIOS, root / SCENARIO_FILE)
    assert lint(catalog, root, RETENTION) == []  # the shipped one; a root without one is clean too (above)
    data = yaml.safe_load(SHIPPED_SCENARIOS.read_text())
    data["providers"]["initech"] = 5
    data["scenarios"]["slow_provider"]["judge_provider"] = "initech"
    (root / SCENARIO_FILE).write_text(yaml.safe_dump(data, sort_keys=False))
    assert lint(catalog, root, RETENTION) == [
        f"{SCENARIO_FILE}: providers: 'initech' is not in the catalog ({', '.join(catalog.providers)})",
        f"{SCENARIO_FILE}: scenarios.slow_provider.judge_provider: 'initech' is not a provider in the catalog"]
    data["baseline"]["rate"] = "fast"
    (root / SCENARIO_FILE).write_text(yaml.safe_dump(data, sort_keys=False))
    assert lint(catalog, root, RETENTION) == [
        f"{SCENARIO_FILE}: baseline.rate: Input should be a valid number, unable to parse string as a number"]


def test_unparsable_yaml_is_one_problem(catalog, tmp_path):
    root = make_root(tmp_path)
    (root / A).write_text("groups: [unclosed\n")
    problems = lint(catalog, root, RETENTION)
    assert len(problems) == 1 and problems[0].startswith(f"{A}: (file): cannot be read as YAML: ")


def test_a_file_without_groups_of_rules_is_one_problem(catalog, tmp_path):
    root = make_root(tmp_path)
    (root / A).write_text("groups: {}\n")
    assert lint(catalog, root, RETENTION) == [
        f"{A}: (file): expected 'groups:', a list of groups each with a list of 'rules:'"]


# ---------------------------------------------------------------- (a) labels and annotations


@pytest.mark.parametrize("severity", ["critical", None, "none"])
def test_severity_must_be_page_or_ticket(catalog, tmp_path, severity):
    """`none` is the watchdog's severity, and no other alert's."""
    root = make_root(tmp_path, alerts=[alert(severity=severity)])
    assert lint(catalog, root, RETENTION) == [f"{A}: MoneyPathTest: severity {severity!r} is not one of page, ticket "
                                              "(none is the Watchdog's alone)"]


@pytest.mark.parametrize("key", ["summary", "description", "dashboard_url"])
def test_every_annotation_must_be_non_empty(catalog, tmp_path, key):
    root = make_root(tmp_path, alerts=[alert(**{key: " "})])
    assert lint(catalog, root, RETENTION) == [f"{A}: MoneyPathTest: annotation {key} is missing or empty"]


def test_a_missing_runbook_url_is_reported(catalog, tmp_path):
    rule = alert()
    root = make_root(tmp_path, alerts=[rule])
    del rule["annotations"]["runbook_url"]
    (root / A).write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}))
    assert lint(catalog, root, RETENTION) == [f"{A}: MoneyPathTest: annotation runbook_url is missing or empty"]


# ---------------------------------------------------------------- (b) runbooks


def test_a_runbook_page_that_does_not_exist_is_reported_once_per_alert(catalog, tmp_path):
    root = make_root(tmp_path, alerts=[alert(), alert(expr="vector(1)"), alert("MoneyPathOther")], runbooks=False)
    (root / "runbooks" / "moneypathother.md").write_text("# other\n")
    assert lint(catalog, root, RETENTION) == [f"{A}: MoneyPathTest: missing runbook runbooks/moneypathtest.md"]


# ---------------------------------------------------------------- (d) rate on counters only


@pytest.mark.parametrize(("func", "metric", "what", "hint"), [
    ("rate", "moneypath_queue_depth", "a gauge", ""),
    ("irate", "moneypath_authorization_duration_seconds", "not a catalog metric",
     "; did you mean moneypath_authorization_duration_seconds_sum?"),  # a near miss names the closest series
    ("increase", "moneypath_unknown_total", "not a catalog metric", ""),
])
def test_rate_irate_increase_only_on_counters(catalog, tmp_path, func, metric, what, hint):
    root = make_root(tmp_path, records=[record(expr=f"sum({func}( {metric}[5m]))")])
    assert lint(catalog, root, RETENTION) == [f"{R}: job:test:rate5m: {func}() applied to {metric}, which is {what}, "
                                              f"not a counter or histogram _bucket/_count/_sum{hint}"]


def test_histogram_series_counters_and_recorded_series_may_be_rated(catalog, tmp_path):
    exprs = ["rate(moneypath_ledger_write_duration_seconds_bucket[5m])", "irate(moneypath_fraud_score_ratio_count[5m])",
             "increase(moneypath_fraud_score_ratio_sum[5m])", "increase(moneypath_dead_letters_total[10m])",
             "rate(job:test:rate5m[5m])", 'sum(rate(moneypath_authorizations_total{outcome="approved"}[5m]))']
    root = make_root(tmp_path, records=[record(f"job:test{i}:rate5m", e) for i, e in enumerate(exprs)])
    assert lint(catalog, root, RETENTION) == []


# ---------------------------------------------------------------- (e) labels and values from the catalog


@pytest.mark.parametrize(("selector", "problem"), [
    ('moneypath_authorizations_total{card_bin="4111"}',
     "moneypath_authorizations_total: label card_bin is not in the catalog for moneypath_authorizations_total"),
    ('moneypath_authorizations_total{provider="acme", outcome="bogus"}',
     'moneypath_authorizations_total: outcome="bogus": \'bogus\' is not a declared value of outcome'),
    ('moneypath_authorization_duration_seconds_bucket{le="0.35"}',
     'moneypath_authorization_duration_seconds_bucket{le="0.35"}: not a bucket boundary of '
     "moneypath_authorization_duration_seconds"),
    ('moneypath_authorization_duration_seconds_count{le="0.3"}',
     "moneypath_authorization_duration_seconds_count: label le is not in the catalog for "
     "moneypath_authorization_duration_seconds"),
])
def test_selectors_use_catalog_labels_and_values(catalog, tmp_path, selector, problem):
    root = make_root(tmp_path, records=[record(expr=f"sum(rate({selector}[5m]))")])
    assert lint(catalog, root, RETENTION) == [f"{R}: job:test:rate5m: {problem}"]


def test_matchers_the_catalog_allows_pass(catalog, tmp_path):
    exprs = ['rate(moneypath_authorization_duration_seconds_bucket{le="0.3", provider="globex"}[5m])',
             'rate(moneypath_authorization_duration_seconds_bucket{le="+Inf"}[5m])',
             'rate(moneypath_authorizations_total{outcome="other"}[5m])',
             'rate(moneypath_authorizations_total{outcome=~"^(approved|declined)$", method!="card"}[5m])',
             'rate(moneypath_http_requests_total{route="/v1/payments/{payment_id}/capture"}[5m])']
    root = make_root(tmp_path, records=[record(f"job:test{i}:rate5m", e) for i, e in enumerate(exprs)])
    assert lint(catalog, root, RETENTION) == []


def test_grouping_labels_must_exist_somewhere(catalog, tmp_path):
    root = make_root(tmp_path, records=[
        record("slo:test:ratio", "vector(1)", slo="x", tier="gold"),
        record(expr="sum by (provider, merchant_id) (rate(moneypath_authorizations_total[5m]))"
                    " + sum without (tier, slo, le, service, region) (slo:test:ratio)"),
    ])
    assert lint(catalog, root, RETENTION) == [
        f"{R}: job:test:rate5m: by (merchant_id): label merchant_id is on no catalog signal",
        f"{R}: job:test:rate5m: without (region): label region is on no catalog signal",
    ]


# ---------------------------------------------------------------- (f) ranges within retention


def test_ranges_and_subqueries_longer_than_retention_are_reported(catalog, tmp_path):
    root = make_root(tmp_path, records=[
        record("job:a:rate", "rate(moneypath_authorizations_total[1w])"),
        record("job:b:max", "max_over_time(job:a:rate[ 16d : 1h ])"),
        record("job:c:rate", "rate(moneypath_authorizations_total[14d23h59m59s999ms])"),
        record("job:d:rate", 'rate(moneypath_http_requests_total{route=~"/healthz[99d]?"}[1h])'),
    ])
    assert lint(catalog, root, "15d") == [f"{R}: job:b:max: range [16d] exceeds retention 15d"]


@pytest.mark.parametrize(("text", "seconds"), [
    ("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("3d", 259200), ("2w", 1209600), ("1y", 31536000)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "1.5h", "5 m", "d"])
def test_parse_duration_rejects_non_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


# ---------------------------------------------------------------- the repository's generated files


@needs_promtool
def test_the_repository_passes_lint_with_every_runbook_page(catalog, monkeypatch):
    monkeypatch.undo()  # the real runbook checks, not the stub of _rules_only
    pages = runbook_pages()
    alert_names = {r["alert"] for g in alert_rules(catalog)["groups"] for r in g["rules"]}
    assert len(pages) == len(alert_names) >= 14  # one page per alert name: 3 SLO burn alerts + 11 business alerts
    assert [p for p in pages if not (ROOT / "runbooks" / p).is_file()] == []
    assert lint(catalog, ROOT, RETENTION) == []


@needs_promtool
def test_the_repository_rules_pass_every_check_once_runbooks_exist(catalog, tmp_path):
    root = copy_repo_rules(tmp_path)
    for page in runbook_pages():
        (root / "runbooks" / page).write_text("# runbook\n")
    assert lint(catalog, root, RETENTION) == []


def test_a_retention_shorter_than_the_longest_windows_is_reported(catalog, tmp_path):
    root = copy_repo_rules(tmp_path)
    for page in runbook_pages():
        (root / "runbooks" / page).write_text("# runbook\n")
    problems = [p for p in lint(catalog, root, "2d") if "promtool" not in p]
    assert problems == [
        f"{A}: MoneyPathCostPerTransactionRegression: range [7d] exceeds retention 2d",
        f"{R}: slo:sli_error:ratio_rate3d: range [3d] exceeds retention 2d",
        f"{R}: slo:sli_events:increase3d: range [3d] exceeds retention 2d",
        f"{R}: slo:sli_error:ratio_rate30d: range [30d] exceeds retention 2d",
    ]


def test_prometheus_default_retention_is_shorter_than_the_30d_slo_window(catalog, tmp_path):
    root = copy_repo_rules(tmp_path)
    for page in runbook_pages():
        (root / "runbooks" / page).write_text("# runbook\n")
    problems = [p for p in lint(catalog, root) if "promtool" not in p]
    assert problems == [f"{R}: slo:sli_error:ratio_rate30d: range [30d] exceeds retention 15d"]


def test_a_foreign_projects_scenario_file_naming_a_provider_it_lacks_is_one_line(tmp_path):
    """The ticket shop as `moneypath init` writes it (Komoju and KNET, JPY and KWD): lint names the file and key."""
    from tests.conftest import run_cli

    root = tmp_path / "ops"
    assert run_cli("init", str(root), "--service", "shop", "--providers", "komoju,knet",
                   "--currencies", "JPY,KWD").returncode == 0
    path = root / SCENARIO_FILE
    path.write_text(path.read_text().replace("komoju: ", "initech: ", 1))
    done = run_cli("lint", "--root", str(root))
    assert done.returncode == 1
    assert (f"{SCENARIO_FILE}: providers: 'initech' is not in the catalog (komoju, knet)"
            in done.stdout + done.stderr)


def test_the_lint_verdict_fails_on_a_problem_and_rests_on_the_live_check_when_it_judged_nothing():
    assert [lint_verdict([]).exit_code, lint_verdict(["x: y: bad"]).exit_code] == [0, 1]
    assert lint_verdict([], "not measured: none of the metrics").outcome == "not measured"
    assert lint_verdict([], "the server holds none").exit_code == 3
    assert lint_verdict(["x: y: bad"], "the server holds none").exit_code == 1
