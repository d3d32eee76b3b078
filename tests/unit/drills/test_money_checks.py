"""The money checks that need no ledger, on a team's own SQLite payments table and its copy of the provider's
records (the catalog's `money_checks:` queries): acknowledged payments stored, captured once, refunds within the
capture. A clean run passes `money_kept`, a capture the provider booked twice fails it, and a query the catalog does
not declare is "not measured", never a pass."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest
import yaml

from moneypath.catalog import load_catalog
from moneypath.drills import impact
from moneypath.drills.baseline_load import PaymentOutcome
from moneypath.drills.money import LedgerReader
from tests.conftest import run_cli
from tests.support.drill_fakes import MoneyCtx, shop_database

CHECKS = {
    "payments": "SELECT id FROM payments WHERE id IN :ids",
    "capture_counts": "SELECT payment_id AS id, COUNT(*) AS captures FROM provider_captures "
                      "WHERE payment_id IN :ids GROUP BY payment_id",
    "refunds": "SELECT id, currency, amount_minor AS captured_minor, refunded_minor FROM payments WHERE id IN :ids",
}
IDS = ("pay_1", "pay_2", "pay_3")


def _catalog(tmp_path, checks: dict):
    """The catalog `moneypath init` writes for a Paystack/Mollie shop in USD and JPY (no ledger), with these
    money checks."""
    root = tmp_path / "ops"
    if not (root / "moneypath.yaml").exists():
        assert run_cli("init", str(root), "--service", "shop", "--providers", "paystack,mollie",
                       "--currencies", "USD,JPY").returncode == 0
    doc = yaml.safe_load((root / "moneypath.yaml").read_text())
    doc["money_checks"] = checks
    path = tmp_path / "with-checks.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_catalog(path)


@pytest.fixture
def shop_db(tmp_path) -> str:
    return shop_database(tmp_path / "shop.db", "JPY", dict.fromkeys(IDS, 1))


def _run(catalog, db_url: str, money_expect: dict | None = None):
    """The money objective of a drill that captured every payment it made: the three acknowledged and captured."""
    ctx = MoneyCtx(catalog, lambda expr: [])
    ctx.drill = SimpleNamespace(load=SimpleNamespace(capture=1.0, requests=SimpleNamespace(approved=None, read=None)),
                                money_expect=money_expect or {})
    ctx.db = LedgerReader(db_url, catalog.money_checks)
    outcomes = [PaymentOutcome(t=1001.0, provider="paystack", currency="JPY", amount_minor=6235, correlation_id=f"c-{i}",
                               payment_id=i, captured=True) for i in IDS]
    try:
        result, lost = impact.money_impact(ctx, outcomes, 1000.0, 1050.0, None)
        impact.ledger_objective(ctx, result, lost, outcomes)
    finally:
        ctx.db.close()
        ctx.http.close()
    [objective] = ctx.objectives
    assert objective.name == "money_kept"
    return objective


def test_a_clean_run_keeps_the_money(tmp_path, shop_db):
    objective = _run(_catalog(tmp_path, CHECKS), shop_db)
    assert objective.status == "pass", objective.reason
    assert "all 3 acknowledged payments" in objective.reason
    assert "3 of 3 acknowledged captures found once (money_checks.capture_counts)" in objective.reason
    assert "refunds within the capture on all 3 payment(s)" in objective.reason


def test_a_capture_the_provider_booked_twice_fails(tmp_path, shop_db):
    with sqlite3.connect(shop_db.removeprefix("sqlite:///")) as conn:
        conn.execute("INSERT INTO provider_captures VALUES ('pay_2', 'ref_again')")
    objective = _run(_catalog(tmp_path, CHECKS), shop_db)
    assert objective.status == "fail"
    assert objective.reason == "1 payment(s) captured more than once (money_checks.capture_counts): pay_2 (2 captures)"


@pytest.mark.parametrize(("twice", "status", "reason"), [
    (True, "pass", "captured_once failed as the drill expects (money_expect): 1 payment(s) captured more than once "
                   "(money_checks.capture_counts): pay_2 (2 captures)"),
    (False, "fail", "captured_once was expected to fail (money_expect) and passed: 3 of 3 acknowledged captures "
                    "found once (money_checks.capture_counts)"),
])
def test_a_drill_expecting_a_duplicate_passes_only_when_captured_once_fails(tmp_path, shop_db, twice, status, reason):
    if twice:
        with sqlite3.connect(shop_db.removeprefix("sqlite:///")) as conn:
            conn.execute("INSERT INTO provider_captures VALUES ('pay_2', 'ref_again')")
    objective = _run(_catalog(tmp_path, CHECKS), shop_db, {"captured_once": "fail"})
    assert objective.status == status, objective.reason
    assert reason in objective.reason, objective.reason


def test_a_refund_over_the_capture_fails_in_the_currencys_own_units(tmp_path, shop_db):
    with sqlite3.connect(shop_db.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE payments SET refunded_minor = 7000 WHERE id = 'pay_3'")
    objective = _run(_catalog(tmp_path, CHECKS), shop_db)
    assert objective.status == "fail"
    assert "pay_3: JPY 7,000 refunded of JPY 6,235" in objective.reason, objective.reason


def test_a_check_the_catalog_does_not_declare_is_not_measured(tmp_path, shop_db):
    objective = _run(_catalog(tmp_path, {k: v for k, v in CHECKS.items() if k != "refunds"}), shop_db)
    assert objective.status == "not measured", objective.reason
    assert "not measured: the catalog declares no money_checks.refunds query" in objective.reason


def test_balance_is_refused_without_the_ledger(tmp_path):
    from moneypath.catalog import CatalogError

    with pytest.raises(CatalogError, match="balance"):
        _catalog(tmp_path, {**CHECKS, "balance": "SELECT currency, SUM(amount_minor) AS total FROM postings "
                                                 "GROUP BY currency"})



def test_drill_check_refuses_an_expectation_on_a_check_the_catalog_cannot_run(tmp_path, monkeypatch):
    """The shop's duplicate-capture drill expects captured_once to fail: without a capture_counts query that
    check is never measured, so `drill check` says so before anyone runs the drill."""
    monkeypatch.setenv("PAYSTACK_ADMIN_URL", "http://127.0.0.1:9")  # its hook's ${NAME}: drill check wants it set
    import shutil

    from tests.conftest import ROOT

    ops = tmp_path / "ops"
    shutil.copytree(ROOT / "tests/foreign/djangoshop/ops", ops)
    drill = ops / "runbooks/drills/shopduplicatechargedetected.yaml"
    assert run_cli("drill", "check", str(drill)).returncode == 0
    doc = yaml.safe_load((ops / "moneypath.yaml").read_text())
    del doc["money_checks"]["capture_counts"]
    (ops / "moneypath.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    done = run_cli("drill", "check", str(drill))
    assert done.returncode == 2, done.stdout + done.stderr
    said = done.stderr + done.stdout
    assert "money_expect.captured_once: the catalog's money_checks has no `capture_counts` query" in said
