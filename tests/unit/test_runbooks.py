"""moneypath.check.runbooks: the shipped pages pass; each broken variant gives its one-line problem."""

from __future__ import annotations

import shutil

import pytest

from moneypath.check.lint import lint
from moneypath.check.promql import series_names
from moneypath.check.runbooks import SECTIONS, check_runbooks, expected_pages
from tests.conftest import ROOT

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
DUP = "runbooks/moneypathduplicatechargedetected.md"


@pytest.fixture
def root(tmp_path):
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    return tmp_path


def edit(root, rel, old, new, count=1):
    path = root / rel
    text = path.read_text()
    assert text.count(old) >= count, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new))


def test_the_shipped_runbooks_pass_our_checks(catalog):
    """(promtool's own parse of every query: tests/integration/test_promtool.py, the whole lint.)"""
    assert check_runbooks(catalog, ROOT) == []


def test_moneypath_lint_includes_the_runbook_checks(catalog, root):
    for rel in ("alerts/moneypath-alerts.yaml", "collector/recording-rules.yaml"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, root / rel)
    assert lint(catalog, root, "31d") == []
    edit(root, DUP, "## Escalation", "## Escalate")
    assert lint(catalog, root, "31d") == [f"{DUP}: ## Escalation: section missing"]


def test_every_alert_and_every_slo_burn_alert_has_a_page(catalog):
    alerts = {alert for alert, _, _ in expected_pages(catalog).values()}
    assert {f"MoneyPath{key}" for key in catalog.alerts} <= alerts
    assert {"MoneyPathAuthorizationAvailabilityBudgetBurn", "MoneyPathAuthorizationLatencyBudgetBurn",
            "MoneyPathLedgerDurabilityBudgetBurn"} <= alerts
    # page and ticket rules: the page is as severe as the worst rule
    assert expected_pages(catalog)["moneypathledgerdurabilitybudgetburn.md"] == (
        "MoneyPathLedgerDurabilityBudgetBurn", "page", False)


def test_a_missing_page(catalog, root):
    (root / DUP).unlink()
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: (file): missing page for alert MoneyPathDuplicateChargeDetected"]


@pytest.mark.parametrize("section", SECTIONS)
def test_a_missing_section(catalog, root, section):
    edit(root, DUP, f"\n## {section}\n", "\n## Something else\n")
    assert check_runbooks(catalog, root, promtool=False) == [f"{DUP}: ## {section}: section missing"]


def test_a_wrong_severity(catalog, root):
    edit(root, DUP, "\nseverity: page\n", "\nseverity: ticket\n")
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: severity: ticket, but the MoneyPathDuplicateChargeDetected rule says page"]


def test_a_severity_that_is_neither_page_nor_ticket(catalog, root):
    edit(root, DUP, "\nseverity: page\n", "\nseverity: urgent\n")
    assert check_runbooks(catalog, root, promtool=False) == [f"{DUP}: severity: Input should be 'page' or 'ticket'"]


def test_the_wrong_alert(catalog, root):
    edit(root, DUP, "alert: MoneyPathDuplicateChargeDetected", "alert: MoneyPathLedgerImbalance")
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: alert: 'MoneyPathLedgerImbalance' is not MoneyPathDuplicateChargeDetected, "
        "the alert that links to this page"]


def test_an_unknown_metric(catalog, root):
    # in the front matter and the pasted query alike
    edit(root, DUP, "moneypath_duplicate_charged_minor_total[24h]", "moneypath_duplicate_charged_total[24h]", 2)
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: diagnosis.1.promql: moneypath_duplicate_charged_total is not a catalog metric "
        "(nor a histogram's _bucket/_count/_sum)",
        f"{DUP}: diagnosis.1.promql: increase() applied to moneypath_duplicate_charged_total, which is not a "
        "catalog metric, not a counter or histogram _bucket/_count/_sum"]


def test_an_unknown_recording_rule(catalog, root):
    rel = "runbooks/moneypathledgerwritefailures.md"
    edit(root, rel, ":moneypath_ledger_writes:failed_ratio_rate5m", ":moneypath_ledger_writes:failed_ratio_rate1m", 2)
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{rel}: diagnosis.0.promql: :moneypath_ledger_writes:failed_ratio_rate1m is not a recording rule"]


def test_a_label_value_outside_the_catalog(catalog, root):
    edit(root, DUP, '{outcome="duplicate"}', '{outcome="dupe"}', 2)
    assert check_runbooks(catalog, root, promtool=False) == [
        f'{DUP}: diagnosis.2.promql: moneypath_webhooks_total{{outcome="dupe"}}: value not in the catalog '
        "for moneypath_webhooks_total"]


def test_a_query_not_pasted_under_diagnosis(catalog, root):
    edit(root, DUP, "sum by (currency) (increase(moneypath_duplicate_charged_minor_total[24h]))\nsum by (provider)",
         "sum by (provider)")
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: diagnosis.1.promql: not pasted under ## Diagnosis (the human and the drill run the same query)"]


def test_bad_yaml(catalog, root):
    edit(root, DUP, "alert: MoneyPathDuplicateChargeDetected", "alert: [MoneyPathDuplicateChargeDetected")
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: (front matter): not valid YAML at line 3: expected ',' or ']', but got ':'"]


def test_no_front_matter(catalog, root):
    (root / DUP).write_text("# MoneyPathDuplicateChargeDetected\n")
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: (front matter): the page must start with a '---' line opening the YAML front matter"]


def test_an_unknown_role(catalog, root):
    edit(root, DUP, "\n  engineering:", "\n  engineer:")
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: roles.engineer: not a catalog role (known: incident_commander, engineering, communications, "
        "compliance, customer_support)"]


def test_a_money_loss_page_without_a_compliance_checkpoint(catalog, root):
    edit(root, DUP, "\n  compliance:", "\n  communications_backup:")
    problems = check_runbooks(catalog, root, promtool=False)
    assert f"{DUP}: roles: MoneyPathDuplicateChargeDetected is a money-loss alert that pages compliance; give a " \
           "role with receiver compliance its checkpoint" in problems


def test_an_unknown_owner(catalog, root):
    edit(root, DUP, "owner: payments-oncall", "owner: nobody")
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: owner: 'nobody' is not a catalog receiver (known: payments-oncall, compliance, payments-tickets)"]


def test_a_missing_key_and_a_step_with_two_queries(catalog, root):
    edit(root, DUP, "    expect: \"non-empty; one row per extra settlement line\"",
         "    promql: vector(1)\n    expect: \"non-empty; one row per extra settlement line\"")
    edit(root, DUP, "owner: payments-oncall\n", "")
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: owner: Field required",
        f"{DUP}: diagnosis.3: Value error, give exactly one of promql or sql"]


def test_sql_against_the_reference_schema(catalog, root):
    edit(root, DUP, "FROM reconciliation_breaks WHERE kind", "FROM reconciliation_break WHERE kind", 2)
    edit(root, DUP, "SELECT payment_id, COUNT(*) AS captures FROM", "DELETE FROM", 2)
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: diagnosis.3.sql: does not run on the reference schema: no such table: reconciliation_break",
        f"{DUP}: diagnosis.4.sql: diagnosis queries are one read-only statement (SELECT or WITH)"]


@pytest.mark.integration  # starts a process
@needs_promtool
def test_promql_that_does_not_parse_is_reported_by_one_promtool_run(catalog, root):
    q = "sum by (provider) (increase(moneypath_duplicate_charges_total[1h]))"
    edit(root, DUP, q, q[:-1], 2)
    rel = "runbooks/moneypathledgerwritefailures.md"
    edit(root, rel, "sum by (outcome) (rate(moneypath_ledger_writes_total[5m]))",
         "sum by (outcome) (rate(moneypath_ledger_writes_total[5m])) +", 2)
    assert sorted(check_runbooks(catalog, root)) == [
        f"{DUP}: diagnosis.0.promql: promtool: could not parse expression: 1:67: parse error: unclosed left parenthesis",
        f"{rel}: diagnosis.1.promql: promtool: could not parse expression: 1:61: parse error: unexpected end of input"]


def test_a_page_no_alert_links_to(catalog, root):
    (root / "runbooks" / "moneypathgone.md").write_text((root / DUP).read_text())
    assert check_runbooks(catalog, root, promtool=False) == [
        "runbooks/moneypathgone.md: (file): no alert links to this page"]


def test_series_names_skip_strings_ranges_and_matchers():
    names = series_names('sum by (le) (rate(moneypath_x_bucket{route="/v1/{id}", a=~"b:c"}[5m:1m])) / slo:y:z')
    assert names == ["sum", "by", "le", "rate", "moneypath_x_bucket", "slo:y:z"]


# ---------------------------------------------------------------- ## First hour names people and deadlines

CUSTOMERS = "- Customers: communications, with customer support preparing the refund notices.\n"


def test_every_shipped_first_hour_names_who_is_paged_leads_communicates_and_decides(catalog):
    assert [p for p in check_runbooks(catalog, ROOT, promtool=False) if "## First hour" in p] == []


@pytest.mark.parametrize(("old", "new", "problem"), [
    (CUSTOMERS, "", "no '- Customers:' item (who communicates with customers)"),
    ("- Leads: incident commander (payments-oncall).\n", "", "no '- Leads:' item (who leads the incident)"),
    ("- Regulatory: compliance weighs", "- Compliance weighs",
     "no '- Regulatory:' item (who decides, and by when, whether a regulatory notification is needed)"),
    ("- Paged: **payments-oncall and compliance**", "- Paged: **the on-call people**",
     "'- Paged:' does not name payments-oncall, the page's owner"),
    (CUSTOMERS, "- Customers: someone tells them.\n", "'- Customers:' names none of this page's roles"),
    ("**within 1 h** of the page", "in due course", "'- Regulatory:' gives no deadline for the decision"),
])
def test_a_first_hour_without_people_or_a_deadline(catalog, root, old, new, problem):
    edit(root, DUP, old, new)
    problems = check_runbooks(catalog, root, promtool=False)
    assert len(problems) == 1 and problems[0].startswith(f"{DUP}: ## First hour: {problem}"), problems


def test_a_first_hour_item_may_span_lines_and_use_bold_labels(catalog, root):
    edit(root, DUP, CUSTOMERS, "- **Customers:** the\n  communications role.\n")
    assert check_runbooks(catalog, root, promtool=False) == []


def test_promtool_missing_is_one_line_for_the_runbook_and_drill_queries(catalog, monkeypatch):
    from moneypath.check import promql

    monkeypatch.setattr(promql, "promtool_check_rules", lambda path, *options, cwd=None: promql.NO_PROMTOOL)
    problems = lint(catalog, ROOT, "31d")
    assert f"{ROOT}: (file): promtool is not on PATH, rule expressions were not checked" in problems
    assert problems.count("runbooks: (file): promtool is not on PATH, diagnosis PromQL was not parsed") == 1
    assert len(problems) == 2, problems
