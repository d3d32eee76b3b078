"""A team without a double-entry ledger (Paystack and Mollie, USD and JPY): `moneypath init` without
`--features ledger` gives a project with no ledger signal, alert, rule, panel, runbook page, drill, load gate or
drill objective anywhere; what the library would record for a ledger it does not record."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from moneypath.catalog import load_catalog
from moneypath.catalog.features import FEATURES
from tests.conftest import run_cli
from tests.unit.loadtest.helpers import summary

SHOP = ("--service", "shop", "--providers", "paystack,mollie", "--currencies", "USD,JPY",
        "--routes", "/charges,/charges/{charge_id}", "--platform", "kube")
FEATURES_LINE = re.compile(r"^features: \{.*\}$", re.M)  # `ledger: false` is the one place the word may be


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("noledger") / "ops"
    result = run_cli("init", str(root), *SHOP)
    assert result.returncode == 0, result.stderr
    return root


def test_no_file_of_the_project_mentions_a_ledger(project):
    files = [p for p in sorted(project.rglob("*")) if p.is_file()]
    assert any(p.parts[-3:-1] == ("deploy", "kube") or "kube" in p.parts for p in files)  # the platform's files too
    found = [f"{p.relative_to(project)}: {line.strip()}" for p in files
             for line in FEATURES_LINE.sub("", p.read_text(encoding="utf-8")).splitlines() if "ledger" in line.lower()]
    assert found == []
    assert "ledger: false" in (project / "moneypath.yaml").read_text()


def test_the_catalog_has_no_ledger_signal_or_alert_and_the_project_lints_clean(project):
    catalog = load_catalog(project / "moneypath.yaml")
    assert not catalog.enabled("ledger")
    assert not set(FEATURES["ledger"].signals) & set(catalog.signals)
    assert not set(FEATURES["ledger"].alerts) & set(catalog.alerts)
    assert run_cli("build", "--root", str(project), "--check").returncode == 0
    assert run_cli("lint", "--root", str(project)).returncode == 0


def test_the_library_records_nothing_for_a_ledger_it_does_not_have(project):
    from moneypath.instrument import MoneyPath

    registry = CollectorRegistry()
    mp = MoneyPath.from_catalog(project / "moneypath.yaml", registry=registry)
    mp.record_ledger_write("committed", 0.01)
    mp.set_ledger_imbalance("USD", 5)
    exposed = generate_latest(registry).decode()
    assert "shop_authorizations_total" in exposed and "ledger" not in exposed


def test_the_load_test_judges_no_ledger_and_passes_on_a_healthy_run(project):
    from moneypath.formats.scenarios import Scenario
    from moneypath.loadtest.command import gates

    catalog = load_catalog(project / "moneypath.yaml")
    prom = gates.PromObservations(p99_s=0.1, error_ratio=0.0, authorizations=400, duplicate_charges=0)
    result = gates.evaluate(summary(), prom, gates.thresholds(catalog, 30), Scenario(description="d", name="checkout"))
    by_name = {g.name: g for g in result}
    assert by_name["ledger_balanced"].status == gates.SKIP and "ledger" in by_name["ledger_balanced"].reason
    assert not [g for g in result if g.status == gates.NOT_MEASURED and "ledger" in g.reason.lower()]
    assert gates.gates_verdict(result) == gates.PASS, [g.reason for g in result if g.status != gates.PASS]


def test_the_drill_money_objective_is_money_kept_and_reads_no_ledger(project):
    from moneypath.drills import impact
    from moneypath.drills.journal import MoneyImpact
    from tests.support.drill_fakes import MoneyCtx

    asked = []
    ctx = MoneyCtx(load_catalog(project / "moneypath.yaml"), lambda expr: asked.append(expr) or [])
    # no --db-url: the checks on the team's tables are skipped by name (shown, never a pass); stored passes
    ctx.drill.if_not_measured = {"captured_once": "pass", "refunds_within_captures": "pass", "duplicates": "pass"}
    try:
        impact.ledger_objective(ctx, MoneyImpact(payments_affected=0, duplicate_amount_minor={}, unreconciled_minor=None,
                                                 writes_lost=0, acknowledged_payments=3, acknowledged_captures=0), [])
    finally:
        ctx.http.close()
    [objective] = ctx.objectives
    assert objective.name == "money_kept" and objective.status == "pass", objective.reason
    assert "ledger" not in objective.reason and not [q for q in asked if "ledger" in q]
