"""moneypath.check.runbooks: the shipped pages pass; each broken variant gives its one-line problem."""

from __future__ import annotations

import shutil

import pytest

from moneypath.catalog import load_catalog
from moneypath.check.lint import lint
from moneypath.check.promql import series_names
from moneypath.check.runbooks import (
    SECTIONS,
    BadDbUrl,
    DatabaseUnavailable,
    check_runbooks,
    expected_pages,
    open_database,
    sql_steps,
)
from tests.conftest import ROOT, run_cli
from tests.support.runbooks import DUP, edit, statements_sent


def test_the_shipped_runbooks_pass_our_checks(catalog, ref_db):
    """(promtool's own parse of every query: tests/integration/instrument/test_promtool.py, the whole lint.)"""
    assert check_runbooks(catalog, ROOT) == []
    assert check_runbooks(catalog, ROOT, db_url=ref_db) == []  # every SQL step prepares on the reference schema


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
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: severity: Input should be 'page', 'ticket' or 'none'"]


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
        "(nor a histogram's _bucket/_count/_sum); did you mean moneypath_duplicate_charges_total?",
        f"{DUP}: diagnosis.1.promql: increase() applied to moneypath_duplicate_charged_total, which is not a "
        "catalog metric, not a counter or histogram _bucket/_count/_sum; did you mean moneypath_duplicate_charges_total?"]


def test_an_unknown_recording_rule(catalog, root):
    rel = "runbooks/moneypathledgerwritefailures.md"
    edit(root, rel, ":moneypath_ledger_writes:failed_ratio_rate5m", ":moneypath_ledger_writes:failed_ratio_rate1m", 2)
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{rel}: diagnosis.0.promql: :moneypath_ledger_writes:failed_ratio_rate1m is not a recording rule"]


def test_a_label_value_outside_the_catalog(catalog, root):
    edit(root, DUP, '{outcome="duplicate"}', '{outcome="dupe"}', 2)
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: diagnosis.2.promql: moneypath_webhooks_total: outcome=\"dupe\": 'dupe' is not a declared value of "
        "outcome; did you mean duplicate?"]


def test_a_query_not_pasted_under_diagnosis(catalog, root):
    edit(root, DUP, "sum by (currency) (increase(moneypath_duplicate_charged_minor_total[24h]))\nsum by (provider)",
         "sum by (provider)")
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: diagnosis.1.promql: not pasted under ## Diagnosis (the human and the drill run the same query)"]


def test_bad_yaml(catalog, root):
    edit(root, DUP, "alert: MoneyPathDuplicateChargeDetected", "alert: [MoneyPathDuplicateChargeDetected")
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: (front matter): not valid YAML at line 2: expected ',' or ']', but got ':'"]  # the '[' line


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


# ---------------------------------------------------------------- SQL steps, on the team's database (--db-url)


def test_sql_is_prepared_on_the_database_given(catalog, root, ref_db):
    edit(root, DUP, "FROM reconciliation_breaks WHERE kind", "FROM reconciliation_break WHERE kind", 2)
    edit(root, DUP, "SELECT payment_id, COUNT(*) AS captures FROM", "DELETE FROM", 2)
    assert check_runbooks(catalog, root, promtool=False, db_url=ref_db) == [
        f"{DUP}: diagnosis.3.sql: does not run on the --db-url database: no such table: reconciliation_break",
        f"{DUP}: diagnosis.4.sql: diagnosis queries are one read-only statement (SELECT or WITH)"]
    # Without a database the table is not looked up anywhere (the lint counts the step as not checked);
    # a statement that is not a read is refused all the same.
    assert check_runbooks(catalog, root, promtool=False) == [
        f"{DUP}: diagnosis.4.sql: diagnosis queries are one read-only statement (SELECT or WITH)"]


def test_sql_is_never_prepared_on_the_reference_schema_unless_that_is_the_database(catalog, root, tmp_path):
    """A team whose database has none of the reference tables: the copied reference pages fail on it."""
    import sqlite3

    with sqlite3.connect(tmp_path / "team.db") as db:
        db.execute("CREATE TABLE charges (id TEXT PRIMARY KEY, order_id TEXT, state TEXT, amount_minor INTEGER)")
    problems = check_runbooks(catalog, root, promtool=False, db_url=f"sqlite:///{tmp_path / 'team.db'}")
    assert len(problems) == len(sql_steps(catalog, root)) == 20
    assert f"{DUP}: diagnosis.3.sql: does not run on the --db-url database: no such table: reconciliation_breaks" \
        in problems


@pytest.mark.parametrize("sql", [
    "WITH gone AS (DELETE FROM payments RETURNING id) SELECT COUNT(*) FROM gone",
    "SELECT * INTO payments_copy FROM payments",
    "SELECT id FROM payments FOR UPDATE",
    "SELECT 1; DELETE FROM payments",
    "UPDATE payments SET state = 'void'",
])
def test_a_statement_that_writes_is_refused_before_it_reaches_the_database(catalog, root, ref_db, sql):

    q = "SELECT payment_id, COUNT(*) AS captures FROM ledger_transactions WHERE kind = 'capture' GROUP BY payment_id " \
        "HAVING COUNT(*) > 1"
    edit(root, DUP, q, sql, 2)
    with statements_sent() as seen:
        problems = check_runbooks(catalog, root, promtool=False, db_url=ref_db)
    assert problems == [f"{DUP}: diagnosis.4.sql: diagnosis queries are one read-only statement (SELECT or WITH)"]
    assert seen and not [s for s in seen if "payments_copy" in s or "gone" in s or "UPDATE" in s.upper()
                         or "DELETE" in s.upper()]


def test_reads_with_the_words_in_literals_or_names_are_not_writes(catalog, root, ref_db):
    q = "SELECT payment_id, COUNT(*) AS captures FROM ledger_transactions WHERE kind = 'capture' GROUP BY payment_id " \
        "HAVING COUNT(*) > 1"
    edit(root, DUP, q, "SELECT id, updated_at FROM payments WHERE state <> 'delete; update' -- not into", 2)
    assert check_runbooks(catalog, root, promtool=False, db_url=ref_db) == []


def test_the_database_is_opened_read_only(ref_db, tmp_path):
    from sqlalchemy.exc import OperationalError

    engine = open_database(ref_db)
    with engine.connect() as conn, pytest.raises(OperationalError, match="readonly database"):
        conn.exec_driver_sql("CREATE TABLE mischief (a INTEGER)")
    engine.dispose()
    missing = tmp_path / "nope.db"
    with pytest.raises(DatabaseUnavailable, match=f"cannot open the database sqlite:///{missing}: unable to open"):
        open_database(f"sqlite:///{missing}")
    assert not missing.exists()  # never created


@pytest.mark.parametrize("url", ["not a url", "mysql://ro@db.example/payments", "postgres://ro@db.example/payments"])
def test_a_database_url_that_cannot_be_opened_read_only_is_refused(url):
    with pytest.raises(BadDbUrl):
        open_database(url)


def test_sql_steps_lists_what_a_lint_without_a_database_leaves_unchecked(catalog, root):
    steps = sql_steps(catalog, ROOT)
    assert len(steps) == 20
    assert steps[:4] == ["runbooks/moneypathapprovalratedrop.md: diagnosis.4.sql",
                         "runbooks/moneypathauditchainbroken.md: diagnosis.2.sql",
                         "runbooks/moneypathauditchainbroken.md: diagnosis.3.sql",
                         "runbooks/moneypathauditcheckpointstale.md: diagnosis.3.sql"]
    assert f"{DUP}: diagnosis.3.sql" in steps and f"{DUP}: diagnosis.4.sql" in steps
    edit(root, DUP, "owner: payments-oncall\n", "")  # a page that does not validate: its problem is reported instead
    assert len(sql_steps(catalog, root)) == 18


def _lint_root(root):
    for rel in ("moneypath.yaml", "alerts/moneypath-alerts.yaml", "collector/recording-rules.yaml"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, root / rel)
    return root


def test_moneypath_lint_notes_sql_not_checked_without_a_database(root):
    result = run_cli("lint", "--root", str(_lint_root(root)))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("lint: 20 SQL diagnosis steps not checked (give --db-url to check them against your "
                             "database)\nlint: 6 money-check queries not checked (give --db-url to check them against "
                             "your database)\nlint: no problems\n")
    assert result.stderr == ""


def test_moneypath_lint_with_db_url_checks_the_sql(root, ref_db):
    _lint_root(root)
    result = run_cli("lint", "--root", str(root), "--db-url", ref_db)
    assert (result.returncode, result.stdout, result.stderr) == (0, "lint: no problems\n", "")
    edit(root, DUP, "FROM ledger_transactions WHERE kind", "FROM ledger_transaction WHERE kind", 2)
    result = run_cli("lint", "--root", str(root), "--db-url", ref_db)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (f"{DUP}: diagnosis.4.sql: does not run on the --db-url database: "
                             "no such table: ledger_transaction\n")


def test_moneypath_lint_with_a_database_that_cannot_be_opened_is_one_line(tmp_path):
    result = run_cli("lint", "--db-url", f"sqlite:///{tmp_path / 'nope.db'}")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (f"moneypath: --db-url: cannot open the database sqlite:///{tmp_path / 'nope.db'}: "
                             "unable to open database file\n")
    bad = run_cli("lint", "--db-url", "mysql://ro@db.example/payments")
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "Traceback" not in bad.stderr


# ---------------------------------------------------------------- a team's own pages and database

FOREIGN = ROOT / "tests" / "foreign" / "moneypath.yaml"
CHARGES_SQL = ("SELECT order_id, COUNT(*) AS captures, SUM(amount_minor) AS amount_minor FROM charges "
               "WHERE state = 'captured' GROUP BY order_id HAVING COUNT(*) > 1")


def foreign_page(alert, severity, sql=None):
    """A sound page of the ticket shop's (tests/foreign): its roles, receivers and metrics, its own SQL."""
    promql = "sum by (provider) (rate(shop_authorizations_total[5m]))"
    steps = f"  - name: charges per provider\n    promql: {promql}\n    expect: \"> 0\"\n"
    if sql:
        steps += f"  - name: orders charged twice\n    sql: {sql}\n    expect: empty\n"
    return (f"---\nalert: {alert}\nseverity: {severity}\nowner: tickets-oncall\nroles:\n"
            f"  incident_commander: \"T+5m: ack.\"\n  compliance: \"T+60m: classify.\"\n"
            f"diagnosis:\n{steps}mitigation: [\"Route charges to the other provider.\"]\n---\n"
            f"# {alert}\n\n## Meaning\nm\n\n## Impact\ni\n\n## First hour\n"
            "- Paged: tickets-oncall.\n- Leads: incident commander.\n- Customers: incident commander.\n"
            "- Regulatory: compliance decides within 1 h of the page.\n\n"
            f"## Diagnosis\n```\n{promql}\n{sql or ''}\n```\n\n## Mitigation\nm\n\n## Escalation\ne\n\n"
            "## Afterwards\na\n")


def test_a_teams_own_sql_passes_on_its_own_database_and_is_not_checked_without_it(tmp_path):
    import sqlite3

    shop = load_catalog(FOREIGN)
    (tmp_path / "runbooks").mkdir()
    for name, (alert, severity, _) in expected_pages(shop).items():
        sql = CHARGES_SQL if alert == "ShopDuplicateChargeDetected" else None
        (tmp_path / "runbooks" / name).write_text(foreign_page(alert, severity, sql))
    with sqlite3.connect(tmp_path / "shop.db") as db:
        db.execute("CREATE TABLE charges (id TEXT PRIMARY KEY, order_id TEXT, state TEXT, amount_minor INTEGER)")
    assert check_runbooks(shop, tmp_path, promtool=False, db_url=f"sqlite:///{tmp_path / 'shop.db'}") == []
    # without a database: no problem, the step is listed as not checked
    assert check_runbooks(shop, tmp_path, promtool=False) == []
    assert sql_steps(shop, tmp_path) == ["runbooks/shopduplicatechargedetected.md: diagnosis.1.sql"]
    # the reference schema has no charges table: the team's SQL is not judged by it
    reference = tmp_path / "reference.db"
    from sqlalchemy import create_engine

    from moneypath.reference.refservice.db import metadata

    engine = create_engine(f"sqlite:///{reference}")
    metadata.create_all(engine)
    engine.dispose()
    assert check_runbooks(shop, tmp_path, promtool=False, db_url=f"sqlite:///{reference}") == [
        "runbooks/shopduplicatechargedetected.md: diagnosis.1.sql: does not run on the --db-url database: "
        "no such table: charges"]


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
