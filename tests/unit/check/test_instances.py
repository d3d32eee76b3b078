"""moneypath.check.instances: rules stay right when a service runs as several instances. An alert that keeps
`instance` pages N times, a sum across instances of a shared gauge counts it N times; the catalog's `aggregate`
says which gauges are shared, the generators follow it, and the shipped and foreign catalogs pass."""

from __future__ import annotations

import json

import pytest
import yaml

from moneypath.catalog import CatalogError, load_catalog, parse_catalog
from moneypath.check.instances import InstanceCheck
from moneypath.check.lint import ALERTS_FILE, RECORDING_FILE, check_generated, lint
from moneypath.generate.rules import alert_rules, recording_rules
from tests.conftest import FOREIGN_PATH, ROOT, run_cli

A, R = ALERTS_FILE, RECORDING_FILE
PER_INSTANCE = "keeps the label instance/pod of"
DOUBLE = "across instances of {m}, one shared value every instance reports (aggregate: max): N instances count it"


@pytest.fixture(autouse=True)
def _rules_only(monkeypatch):
    monkeypatch.setattr("moneypath.check.lint.check_runbooks", lambda catalog, root, **kw: [])
    monkeypatch.setattr("moneypath.check.lint.check_drill_files", lambda catalog, root, **kw: [])


def rules_of(catalog) -> list[dict]:
    return [r for doc in (recording_rules(catalog), alert_rules(catalog)) for g in doc["groups"] for r in g["rules"]]


def findings(catalog, rules) -> list[str]:
    check = InstanceCheck(catalog, rules)
    return [f"{r.get('alert') or r['record']}: {what}" for r in rules
            for what in (check.alert(r["expr"]) if "alert" in r else check.aggregations(r["expr"]))]


# ---------------------------------------------------------------- the shipped and foreign catalogs pass


@pytest.fixture(scope="module")
def charges_catalog(tmp_path_factory):
    """The charges team's project (tests/charges) as `moneypath init` writes it."""
    root = tmp_path_factory.mktemp("charges") / "ops"
    result = run_cli("init", str(root), "--service", "charges", "--providers", "stripe,adyen", "--currencies",
                     "USD,JPY,KWD", "--routes", "/v2/charges,/v2/charges/{charge_id}", "--oncall", "charges-oncall")
    assert result.returncode == 0, result.stderr
    return load_catalog(root / "moneypath.yaml")


@pytest.mark.parametrize("which", ["reference", "foreign", "charges"])
def test_generated_rules_aggregate_instances_away_on_every_catalog(which, catalog, foreign, charges_catalog):
    c = {"reference": catalog, "foreign": foreign, "charges": charges_catalog}[which]
    rules = rules_of(c)
    assert any("alert" in r for r in rules)
    assert findings(c, rules) == []
    assert check_generated(c, "30d").problems == []


def test_the_committed_rules_and_dashboards_lint_clean(catalog):
    assert [p for p in lint(catalog, ROOT, retention="30d") if "instance" in p] == []


# ---------------------------------------------------------------- what is caught


@pytest.mark.parametrize(("expr", "keeps"), [
    ("moneypath_ledger_imbalance_minor != 0", True),
    ("rate(moneypath_authorizations_total[5m]) > 1", True),
    ("sum by (instance) (rate(moneypath_authorizations_total[5m])) > 1", True),
    ("sum by (pod, provider) (rate(moneypath_authorizations_total[5m])) > 1", True),
    ("sum without (provider) (rate(moneypath_authorizations_total[5m])) > 1", True),
    ("topk(1, rate(moneypath_authorizations_total[5m])) > 1", True),
    ('label_replace(vector(1), "instance", "a", "", "")', True),
    ("sum by (provider) (rate(moneypath_authorizations_total[5m]))\n/ on (provider) group_left\n"
     "rate(moneypath_provider_requests_total[5m]) > 1", False),
    ("rate(moneypath_authorizations_total[5m])\n/ on (provider) group_left\n"
     "sum by (provider) (rate(moneypath_authorizations_total[5m])) > 1", True),
    ("sum(rate(moneypath_authorizations_total[5m])) > 1 and rate(moneypath_authorizations_total[5m]) > 0", False),
    ("sum(rate(moneypath_authorizations_total[5m])) > 1 or rate(moneypath_authorizations_total[5m]) > 5", True),
    ("max by (provider) (moneypath_provider_circuit_state) > 0", False),
    ("sum without (instance, pod) (rate(moneypath_authorizations_total[5m])) > 1", False),
    ("time() - max(moneypath_reconciliation_last_success_timestamp_seconds) > 60", False),
    ("absent(moneypath_authorizations_total)", False),
    ("histogram_quantile(0.99, sum by (le) (rate(moneypath_authorization_duration_seconds_bucket[5m]))) > 1", False),
    ("scalar(sum(up)) < 1", False),
])
def test_an_alert_that_keeps_the_instance_label_pages_once_per_instance(catalog, expr, keeps):
    found = InstanceCheck(catalog, []).alert(expr)
    assert any(PER_INSTANCE in f for f in found) is keeps, found


def test_a_recorded_series_carries_what_its_rule_keeps(catalog):
    rules = [{"record": "instance:auth:rate5m", "expr": "sum by (instance) (rate(moneypath_authorizations_total[5m]))"},
             {"record": ":auth:rate5m", "expr": "sum(rate(moneypath_authorizations_total[5m]))"}]
    check = InstanceCheck(catalog, rules)
    assert check.alert("instance:auth:rate5m < 1") == [
        f"{PER_INSTANCE} moneypath_authorizations_total: N instances page N times for one incident; aggregate it away "
        "(sum/max by (...) the labels the page needs)"]
    assert check.alert(":auth:rate5m < 1") == []


@pytest.mark.parametrize(("expr", "problem"), [
    ("sum by (currency) (moneypath_ledger_imbalance_minor) != 0",
     "sum() " + DOUBLE.format(m="moneypath_ledger_imbalance_minor")),
    ("sum(abs(moneypath_ledger_imbalance_minor)) > 0", "sum() " + DOUBLE.format(m="moneypath_ledger_imbalance_minor")),
    ("sum by (queue) (max by (queue, instance) (moneypath_queue_depth)) > 10",
     "sum() " + DOUBLE.format(m="moneypath_queue_depth")),
])
def test_a_sum_across_instances_of_a_shared_gauge_counts_it_once_per_instance(catalog, expr, problem):
    found = InstanceCheck(catalog, []).alert(expr)
    assert len(found) == 1 and found[0].startswith(problem), found


def test_a_sum_that_keeps_instances_apart_or_of_counters_is_no_double_count(catalog):
    check = InstanceCheck(catalog, [])
    assert check.aggregations("max by (currency) (sum by (currency, instance) (moneypath_ledger_imbalance_minor))") == []
    assert check.aggregations("sum(rate(moneypath_authorizations_total[5m]))") == []
    assert check.aggregations("max by (currency) (abs(moneypath_ledger_imbalance_minor))") == []


def test_the_lint_names_file_and_rule_of_each_kind(catalog, tmp_path):
    page = {"alert": "MoneyPathPerInstance", "expr": "moneypath_ledger_imbalance_minor != 0",
            "labels": {"severity": "page"},
            "annotations": {"summary": "s", "description": "d", "runbook_url": "https://x/runbooks/p.md",
                            "dashboard_url": "http://x/d/o"}}
    record = {"record": "currency:imbalance:sum", "expr": "sum by (currency) (moneypath_ledger_imbalance_minor)"}
    for rel, rules in ((A, [page]), (R, [record])):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]}))
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "p.md").write_text("# p\n")
    problems = [p for p in lint(catalog, tmp_path, retention="30d") if "instance" in p]
    assert problems == [
        f"{A}: MoneyPathPerInstance: {PER_INSTANCE} moneypath_ledger_imbalance_minor: N instances page N times for one "
        "incident; aggregate it away (sum/max by (...) the labels the page needs)",
        f"{R}: currency:imbalance:sum: sum() {DOUBLE.format(m='moneypath_ledger_imbalance_minor')} N times; use "
        "max by (...)"]


def foreign_with_expr(tmp_path, expr: str):
    text = FOREIGN_PATH.read_text()
    start, end = text.index("    expr: |\n"), text.index("\ncost:")
    path = tmp_path / "moneypath.yaml"
    path.write_text(text[:start] + "    expr: |\n      " + expr + "\n" + text[end:])
    return path


@pytest.mark.parametrize(("expr", "what"), [
    ("shop_ledger_imbalance_minor != 0", f"{PER_INSTANCE} shop_ledger_imbalance_minor"),
    ("sum by (currency) (shop_ledger_imbalance_minor) != 0", "sum() " + DOUBLE.format(m="shop_ledger_imbalance_minor")),
])
def test_catalog_check_names_the_custom_alert_on_a_foreign_catalog(tmp_path, expr, what):
    path = foreign_with_expr(tmp_path, expr)
    result = run_cli("catalog", "check", "--catalog", str(path))
    assert result.returncode == 3
    assert result.stderr.startswith(f"{path}:123: alerts.KonbiniApprovalsLow.expr: {what}"), result.stderr
    assert len(result.stderr.splitlines()) == 1


# ---------------------------------------------------------------- the catalog says, the generators follow


def test_aggregate_defaults_by_signal_type(catalog):
    assert catalog.signals["ledger_imbalance_minor"].across_instances == "max"
    assert catalog.signals["queue_depth"].across_instances == "max"
    assert catalog.signals["authorizations_total"].across_instances == "sum"
    assert catalog.signals["authorization_duration_seconds"].across_instances == "sum"


def test_a_counter_cannot_be_combined_by_max(tmp_path):
    text = FOREIGN_PATH.read_text().replace("  ledger_imbalance_minor:\n    type: gauge\n",
                                            "  ledger_imbalance_minor:\n    type: gauge\n    aggregate: avg\n")
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "shop.yaml")
    assert caught.value.problems[0].startswith("shop.yaml:45: signals.ledger_imbalance_minor.aggregate: Input should be")
    text = FOREIGN_PATH.read_text().replace("  authorizations_total:\n    type: counter\n",
                                            "  authorizations_total:\n    type: counter\n    aggregate: max\n")
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "shop.yaml")
    assert len(caught.value.problems) == 1
    assert "signals.authorizations_total.aggregate: Value error, a counter counts each instance's own events" \
        in caught.value.problems[0]


def test_the_generators_combine_a_gauge_as_the_catalog_says(tmp_path):
    """A team whose imbalance gauge each instance computes for its own shard says `aggregate: sum`: the generated
    alert and panels sum it, and the check still passes (it follows the catalog, not a fixed list)."""
    text = FOREIGN_PATH.read_text().replace("  ledger_imbalance_minor:\n    type: gauge\n",
                                            "  ledger_imbalance_minor:\n    type: gauge\n    aggregate: sum\n")
    c = parse_catalog(text, "shop.yaml")
    imbalance = next(r for r in rules_of(c) if r.get("alert") == "ShopLedgerImbalance")
    assert imbalance["expr"].startswith("sum by (currency) (abs(shop_ledger_imbalance_minor))")
    assert findings(c, rules_of(c)) == []
    assert InstanceCheck(c, []).aggregations("max by (currency) (shop_ledger_imbalance_minor)") == [
        "max() across instances of shop_ledger_imbalance_minor, which instances add up (aggregate: sum): it reads "
        "one instance's share; use sum by (...)"]


def test_a_committed_dashboard_that_sums_a_shared_gauge_is_named(catalog, tmp_path):
    """Panels may show one line per instance; a sum across instances of a shared gauge is wrong on a panel too."""
    (tmp_path / "dashboards").mkdir()
    board = {"panels": [{"title": "Imbalance", "targets": [
        {"expr": 'sum by (currency) (moneypath_ledger_imbalance_minor{currency=~"$currency"})'}]},
        {"title": "Per instance", "targets": [{"expr": "moneypath_queue_depth"}]}]}
    (tmp_path / "dashboards" / "team.json").write_text(json.dumps(board))
    problems = [p for p in lint(catalog, tmp_path, retention="30d") if p.startswith("dashboards/")]
    assert problems == [f'dashboards/team.json: panel "Imbalance": sum() '
                        f'{DOUBLE.format(m="moneypath_ledger_imbalance_minor")} N times; use max by (...)']
