"""The money impact of a drill from what the load saw and what the ledger holds (moneypath.drills.money), and its
checks on a team's own schema: the catalog's `ledger:` queries, prepared by the lint and run read-only by the
drill. A check that cannot run is "not checked" with a one-line reason, never a loss."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from moneypath.catalog import CatalogError, parse_catalog
from moneypath.check.ledger_queries import check_ledger_queries, declared
from moneypath.drills import impact, money
from moneypath.drills.baseline_load import PaymentOutcome
from moneypath.drills.money import LedgerReader, NotChecked
from moneypath.drills.report.rendering import render
from tests.support.drill_fakes import MoneyCtx


def _outcome(t, **kw):
    return PaymentOutcome(t=t, provider="acme", currency="EUR", amount_minor=1000, correlation_id=f"c{t}", **kw)


def test_affected_payments_counts_the_fault_window_and_every_break():
    outcomes = [_outcome(1, payment_id="p1", error="authorize: 503 ledger-unavailable"),  # before the fault
                _outcome(11, payment_id="p2", state="authorized"),  # fine
                _outcome(12, error="authorize: 502 provider-error"),  # failed, no id
                _outcome(13, payment_id="p3", state="declined", flagged=True),
                _outcome(14, payment_id="p4", state="held", flagged=True),
                _outcome(40, payment_id="p5", error="capture: 503")]  # after the window
    breaks = [{"payment_id": "p2", "kind": "duplicate"}, {"payment_id": None, "provider_ref": "r9", "kind":
                                                                                    "missing_in_ledger"}]
    assert money.affected_payments(outcomes, 10, 30, breaks) == {"c12", "p3", "p4", "p2", "r9"}
    assert money.affected_payments(outcomes, None, None, []) == set()


def test_a_refused_payment_is_affected_but_counted_apart_and_never_a_write_lost():
    outcomes = [_outcome(11, error="authorize: 503 overloaded", refused=True),  # shed: never acknowledged
                _outcome(12, error="authorize: 503 ledger-unavailable"),  # failed, not a refusal
                _outcome(13, payment_id="p1", state="authorized"),
                _outcome(40, error="authorize: 503 overloaded", refused=True)]  # after the window
    assert money.affected_payments(outcomes, 10, 30) == {"c11", "c12"}
    assert money.refused_payments(outcomes, 10, 30) == {"c11"}
    assert money.refused_payments(outcomes, None, None) == set()
    acked, captures = money.acknowledged(outcomes)
    assert money.writes_lost(acked, captures, {"p1"}, set()) == []


def test_duplicate_and_unreconciled_amounts():
    breaks = [{"kind": "duplicate", "currency": "EUR", "amount_minor": 1200},
              {"kind": "duplicate", "currency": "EUR", "amount_minor": 300},
              {"kind": "amount_differs", "currency": "EUR", "amount_minor": 1150, "captured_minor": 1000},
              {"kind": "amount_differs", "currency": "USD", "amount_minor": 900, "captured_minor": 1000},
              {"kind": "missing_at_provider", "currency": "GBP", "amount_minor": 700}]
    assert money.duplicate_amounts(breaks) == {"EUR": 1500}
    assert money.unreconciled_amounts(breaks) == {"EUR": 150, "USD": 100, "GBP": 700}


def test_writes_lost_is_acknowledged_minus_stored():
    outcomes = [_outcome(1, payment_id="p1", captured=True), _outcome(2, payment_id="p2"), _outcome(3)]
    acked, captures = money.acknowledged(outcomes)
    assert (acked, captures) == ({"p1", "p2"}, {"p1"})
    assert money.writes_lost(acked, captures, {"p1", "p2"}, {"p1"}) == []
    assert money.writes_lost(acked, captures, {"p1"}, set()) == ["payment p2 acknowledged, not stored",
                                                                "capture of p1 acknowledged, no capture transaction"]


def test_blast_radius_cap():
    assert money.cap_exceeded(10, {"EUR": 100}, 20, 1000) is None
    assert "21 payments affected (cap 20)" in money.cap_exceeded(21, {}, 20, None)
    assert "EUR 50.00 charged twice (cap EUR 10.00)" in money.cap_exceeded(0, {"EUR": 5000}, None, 1000)



def test_the_blast_radius_cap_says_the_money_in_its_currency(foreign):
    assert money.cap_exceeded(0, {"JPY": 6235}, None, 5000, foreign.money) == \
        "blast-radius cap: JPY 6,235 charged twice (cap JPY 5,000)"
    assert money.cap_exceeded(0, {"KWD": 6235}, None, 5000, foreign.money) == \
        "blast-radius cap: KWD 6.235 charged twice (cap KWD 5.000)"
    assert money.amounts_text({"KWD": 6235, "JPY": 6235}, foreign.money) == "JPY 6,235, KWD 6.235"
    assert money.amounts_text({}, foreign.money) == "none"


FOREIGN = Path(__file__).parents[2] / "foreign" / "moneypath.yaml"

# A ticket shop's own tables: nothing named like the reference service's.
SHOP_SCHEMA = """
CREATE TABLE charges (charge_id TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE journal_lines (charge_id TEXT, ccy TEXT NOT NULL, minor INTEGER NOT NULL);
"""
SHOP_LEDGER = {
    "balance": "SELECT ccy AS currency, SUM(minor) AS total FROM journal_lines GROUP BY ccy",
    "payments": "SELECT charge_id AS id FROM charges WHERE charge_id IN :ids",
    "captures": "SELECT charge_id AS id FROM charges WHERE state = 'captured' AND charge_id IN :ids",
}


def shop_catalog(ledger: dict | None):
    doc = yaml.safe_load(FOREIGN.read_text())
    if ledger is not None:
        doc["ledger"] = ledger
    return parse_catalog(yaml.safe_dump(doc), "ops/moneypath.yaml")


@pytest.fixture
def shop_db(tmp_path):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SHOP_SCHEMA)
        conn.executemany("INSERT INTO charges VALUES (?, ?)", [("ch_1", "captured"), ("ch_2", "authorized")])
        conn.executemany("INSERT INTO journal_lines VALUES (?, ?, ?)",
                         [("ch_1", "JPY", 6235), ("ch_1", "JPY", -6235), ("ch_2", "KWD", 6235), ("ch_2", "KWD", -6235)])
    return f"sqlite:///{path}"


def test_the_reference_catalog_declares_every_ledger_query(catalog):
    assert declared(catalog) == [f"money_checks.{k}" for k in ("payments", "captures", "capture_counts", "refunds",
                                                                "balance", "breaks")]


@pytest.mark.parametrize(("ledger", "message"), [
    ({"balance": "DELETE FROM journal_lines"},
     "money_checks.balance: Value error, a money check reads: one SELECT or WITH"),
    ({"payments": "SELECT charge_id AS id FROM charges"},
     "money_checks.payments: Value error, give the ids to check as :ids"),
    ({"breaks": "SELECT * FROM breaks"}, "money_checks.breaks: Value error, give the since to check as :since"),
    ({"balanse": "SELECT 1"}, "money_checks.balanse: Extra inputs are not permitted"),
])
def test_a_ledger_query_that_cannot_be_a_money_check_is_refused_with_its_key(ledger, message):
    with pytest.raises(CatalogError) as err:
        shop_catalog(ledger)
    assert any(message in p and p.startswith("ops/moneypath.yaml") for p in err.value.problems), err.value.problems


def test_the_team_queries_read_the_team_schema(shop_db):
    reader = LedgerReader(shop_db, shop_catalog(SHOP_LEDGER).money_checks)
    try:
        assert reader.imbalance() == {"JPY": 0, "KWD": 0}
        assert reader.stored({"ch_1", "ch_2", "ch_3"}) == ({"ch_1", "ch_2"}, {"ch_1"})
        with pytest.raises(NotChecked, match="the catalog declares no money_checks.breaks query"):
            reader.breaks_since(0)
        # a runbook's SQL diagnosis step runs through the same read-only connection
        assert reader.rows("SELECT charge_id, state FROM charges ORDER BY charge_id") == [
            {"charge_id": "ch_1", "state": "captured"}, {"charge_id": "ch_2", "state": "authorized"}]
    finally:
        reader.close()


def test_the_lint_prepares_the_ledger_queries_on_the_team_database(catalog, shop_db, ref_db):
    assert check_ledger_queries(shop_catalog(SHOP_LEDGER), shop_db) == []
    assert check_ledger_queries(catalog, ref_db) == []  # the reference queries on the reference schema
    # The reference queries on the shop's database: each names its key and the database's own message.
    problems = check_ledger_queries(catalog, shop_db)
    assert problems == [f"{catalog.path}: money_checks.{key}: does not run on the --db-url database: no such table: "
                        f"{table}" for key, table in (("payments", "payments"), ("captures", "ledger_transactions"),
                                                      ("capture_counts", "ledger_transactions"), ("refunds", "payments"),
                                                      ("balance", "ledger_postings"),
                                                      ("breaks", "reconciliation_breaks"))]
    with sqlite3.connect(shop_db.removeprefix("sqlite:///")) as conn:  # EXPLAIN only: nothing was run or written
        assert conn.execute("SELECT COUNT(*) FROM charges").fetchone() == (2,)


def _acknowledged(*ids: str) -> list[PaymentOutcome]:
    return [PaymentOutcome(t=1001.0, provider="komoju", currency="JPY", amount_minor=6235, correlation_id=f"c-{i}",
                           payment_id=i, captured=True) for i in ids]


def _balanced(expr):
    return [({"currency": "JPY"}, 0.0), ({"currency": "KWD"}, 0.0)]


def test_queries_for_tables_the_team_does_not_have_are_not_checked_never_lost(foreign, shop_db, tmp_path):
    """The trial: the reference service's queries on a team's database said "1 acknowledged ledger write(s)
    LOST" with 6 KB of SQL in the objectives table, and "unreconciled 0" that was never measured."""
    ctx = MoneyCtx(foreign, _balanced)
    reference = parse_catalog((Path(__file__).parents[3] / "moneypath.yaml").read_text())
    ctx.db = LedgerReader(shop_db, reference.money_checks)
    try:
        result, lost = impact.money_impact(ctx, _acknowledged(*(f"ch_{i}" for i in range(400))), 1000.0, 1050.0, None)
        impact.ledger_objective(ctx, result, lost)
    finally:
        ctx.db.close()
    assert lost == [] and result.writes_lost is None and result.unreconciled_minor is None
    assert result.not_checked == {
        "unreconciled": "money_checks.breaks failed on the database: no such table: reconciliation_breaks",
        "writes_lost": "money_checks.payments failed on the database: no such table: payments",
        "duplicates": "no duplicates reported, detector not seen running"}  # a counter at 0 is no figure
    [objective] = ctx.objectives
    # the gauge says 0, but what the database could not read is not measured: never a pass, never money lost
    assert objective.status == "not measured" and "lost" not in objective.reason, objective.reason
    assert "SELECT" not in objective.reason and len(objective.reason) < 900  # one line per check, no SQL
    assert "balance on the database: not measured: money_checks.balance failed on the database: no such table: " \
           "ledger_postings" in objective.reason
    journal = {"schema": 1, "drill": {"name": "komoju-declines", "title": "t"}, "money": result.to_dict(),
               "objectives": [o.to_dict() for o in ctx.objectives], "timeline": [], "verdict": {"ok": True}}
    md = render(journal, tmp_path / "report").read_text()
    assert "LOST" not in md
    assert "| writes lost (must be 0) | _not checked: money_checks.payments failed on the database: no such table: " \
           "payments_ |" in md
    assert "| unreconciled difference | _not checked: money_checks.breaks failed on the database: no such table: " \
           "reconciliation_breaks_ |" in md


def test_the_team_queries_find_a_write_really_lost(foreign, shop_db):
    ctx = MoneyCtx(foreign, _balanced)
    ctx.db = LedgerReader(shop_db, shop_catalog(SHOP_LEDGER).money_checks)
    try:
        result, lost = impact.money_impact(ctx, _acknowledged("ch_1", "ch_2", "ch_9"), 1000.0, 1050.0, None)
        impact.ledger_objective(ctx, result, lost)
    finally:
        ctx.db.close()
    assert lost == ["payment ch_9 acknowledged, not stored", "capture of ch_2 acknowledged, no capture transaction",
                    "capture of ch_9 acknowledged, no capture transaction"]
    assert result.writes_lost == 3 and result.not_checked == {
        "unreconciled": "the catalog declares no money_checks.breaks query",
        "duplicates": "no duplicates reported, detector not seen running"}
    [objective] = ctx.objectives
    assert not objective.ok and "3 acknowledged write(s) lost, e.g. payment ch_9" in objective.reason


def test_a_declined_charge_the_service_does_not_store_is_not_a_write_lost(foreign, shop_db):
    """Only money the service confirmed counts: a 2xx in a state the request template calls approved."""
    ctx = MoneyCtx(foreign, _balanced)
    ctx.drill = SimpleNamespace(load=SimpleNamespace(requests=SimpleNamespace(approved=["approved"], read=None)))
    ctx.db = LedgerReader(shop_db, shop_catalog(SHOP_LEDGER).money_checks)
    declined = PaymentOutcome(t=1001.0, provider="komoju", currency="JPY", amount_minor=97, correlation_id="c-d",
                              payment_id="ch_declined", state="declined")
    stored = PaymentOutcome(t=1001.0, provider="komoju", currency="JPY", amount_minor=6235, correlation_id="c-1",
                            payment_id="ch_2", state="approved")
    lost_one = PaymentOutcome(t=1001.0, provider="komoju", currency="JPY", amount_minor=6235, correlation_id="c-9",
                              payment_id="ch_9", state="approved")
    try:
        result, lost = impact.money_impact(ctx, [declined, stored, lost_one], 1000.0, 1050.0, None)
    finally:
        ctx.db.close()
    assert result.acknowledged_payments == 2 and lost == ["payment ch_9 acknowledged, not stored"]


def test_a_catalog_without_ledger_queries_says_so(foreign, shop_db):
    ctx = MoneyCtx(foreign, _balanced)
    ctx.db = LedgerReader(shop_db, foreign.money_checks)
    try:
        result, lost = impact.money_impact(ctx, _acknowledged("ch_1"), 1000.0, 1050.0, None)
    finally:
        ctx.db.close()
    assert result.writes_lost is None and result.not_checked["writes_lost"] == (
        "the catalog declares no money_checks.payments query, and the drill's requests have no read call")
