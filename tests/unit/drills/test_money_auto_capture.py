"""The money objective on a target that captures by itself (`load.capture: 0`): captured once and refunds within
captures still run, on every payment the service acknowledged; a check that cannot run is "not measured (why)",
never left out of a pass; the duplicates figure counts only when its detector was seen running; a check the drill
names in `if_not_measured` is skipped (shown), never a pass."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from moneypath._common.verdict import NOT_MEASURED
from moneypath.drills import impact
from moneypath.drills.baseline_load import PaymentOutcome
from moneypath.drills.money import LedgerReader
from tests.support.drill_fakes import MoneyCtx, money_objective, shop_database
from tests.unit.drills.test_money_checks import CHECKS, _catalog

IDS = ("ord_1", "ord_2", "ord_3", "ord_4")


@pytest.fixture
def shop_db(tmp_path) -> str:
    """A shop that captured ord_1 once, ord_2 twice, ord_3 three times, and not yet ord_4."""
    return shop_database(tmp_path / "shop.db", "USD", dict(zip(IDS, (1, 2, 3, 0))))


def _objective(catalog, db_url: str | None, answer=lambda expr: [], capture: float = 0.0, skip: dict | None = None,
               ids=IDS, money_expect: dict | None = None, not_data: str | None = None):
    """The money objective of a drill whose load captured nothing itself (capture 0): every payment approved."""
    ctx = MoneyCtx(catalog, answer)
    ctx.counters_not_data = lambda: not_data
    ctx.drill = SimpleNamespace(load=SimpleNamespace(capture=capture, requests=SimpleNamespace(approved=None, read=None)),
                                money_expect=money_expect or {}, if_not_measured=skip or {})
    ctx.db = LedgerReader(db_url, catalog.money_checks) if db_url else None
    outcomes = [PaymentOutcome(t=1001.0, provider="paystack", currency="USD", amount_minor=6235, correlation_id=f"c-{i}",
                               payment_id=i, state="approved", captured=capture > 0) for i in ids]
    return money_objective(ctx, outcomes)


def test_auto_capture_fails_captured_once_naming_every_payment_captured_twice(tmp_path, shop_db):
    objective = _objective(_catalog(tmp_path, CHECKS), shop_db)
    assert objective.status == "fail", objective.reason
    assert objective.reason == ("2 payment(s) captured more than once (money_checks.capture_counts): ord_2 (2 captures), "
                                "ord_3 (3 captures)")  # ord_4, not captured yet, is no failure


def test_auto_capture_passes_on_the_acknowledged_payments_when_none_was_captured_twice(tmp_path, shop_db):
    objective = _objective(_catalog(tmp_path, CHECKS), shop_db, ids=("ord_1", "ord_4"))
    assert objective.status == "pass", objective.reason
    assert ("1 of 2 acknowledged payments found on the provider's records, none captured more than once"
            in objective.reason), objective.reason
    assert "duplicates none (captured once read the provider's records)" in objective.reason


def test_a_drill_expecting_the_duplicates_passes_on_them_with_auto_capture(tmp_path, shop_db):
    objective = _objective(_catalog(tmp_path, CHECKS), shop_db, money_expect={"captured_once": "fail"})
    assert objective.status == "pass", objective.reason
    assert "captured_once failed as the drill expects (money_expect)" in objective.reason


@pytest.mark.parametrize("checks, db, why", [
    ({k: v for k, v in CHECKS.items() if k != "capture_counts"}, True,
     "captured once: not measured: the catalog declares no money_checks.capture_counts query"),
    (CHECKS, False, "captured once: not measured: no --db-url"),
])
def test_without_the_query_or_the_database_captured_once_is_not_measured(tmp_path, shop_db, checks, db, why):
    objective = _objective(_catalog(tmp_path, checks), shop_db if db else None)
    assert objective.status == "not measured", objective.reason
    assert why in objective.reason, objective.reason


def test_a_duplicate_counter_at_its_initial_zero_is_no_evidence(tmp_path):
    """No database and the counter the library creates at 0: "no duplicates reported, detector not seen running"
    is not measured, even with every other check skipped by name."""
    catalog = _catalog(tmp_path, CHECKS)
    asked: list[str] = []
    skip = {"captured_once": "pass", "refunds_within_captures": "pass", "stored": "pass"}
    objective = _objective(catalog, None, lambda expr: asked.append(expr) or [], skip=skip)
    assert objective.status == "not measured", objective.reason
    assert "no duplicates reported, detector not seen running" in objective.reason
    assert "duplicates none" not in objective.reason
    assert any("duplicate_charges_total" in q for q in asked), asked


def test_money_the_detector_reports_charged_twice_fails_unless_the_drill_expects_it(tmp_path):
    catalog = _catalog(tmp_path, CHECKS)
    metric = catalog.metric("duplicate_charged_minor_total")

    def answer(expr):
        return [({"currency": "USD"}, 6235.0)] if metric in expr else []

    skip = {"captured_once": "pass", "refunds_within_captures": "pass", "stored": "pass"}
    objective = _objective(catalog, None, answer, skip=skip)
    assert objective.status == "fail", objective.reason
    assert "money charged twice: USD 62.35 (reported by the service's duplicate detector)" in objective.reason
    objective = _objective(catalog, None, answer, skip=skip, money_expect={"duplicates": "fail"})
    assert objective.status == "pass" and "duplicates failed as the drill expects" in objective.reason, objective.reason
    objective = _objective(catalog, None, lambda expr: [], skip={**skip, "duplicates": "pass"},
                           money_expect={"duplicates": "fail"})
    assert objective.status == "not measured", objective.reason  # expected, and nothing seen: no pass


@pytest.mark.parametrize("seen, evidence", [("duplicate_charges_total", "the duplicate counter increased")])
def test_the_detector_seen_running_measures_the_duplicates(tmp_path, seen, evidence):
    catalog = _catalog(tmp_path, CHECKS)
    metric = catalog.metric(seen)

    def answer(expr):
        return [({"currency": "USD"}, 6235.0)] if metric in expr else []

    skip = {"captured_once": "pass", "refunds_within_captures": "pass", "stored": "pass"}
    objective = _objective(catalog, None, answer, skip=skip)
    # stored is skipped too: with nothing else measured but the detector the objective still passes on it
    assert objective.status == "pass", objective.reason
    assert evidence in objective.reason, objective.reason
    assert "captured once: not measured: no --db-url (skipped: if_not_measured)" in objective.reason


def test_counters_that_go_backwards_are_no_duplicates_figure(tmp_path):
    """The target's counters reset between scrapes (several workers, no multiprocess mode): an increase of the
    duplicate counter is no evidence either way, so the duplicates check is not measured with that reason."""
    catalog = _catalog(tmp_path, CHECKS)
    metric = catalog.metric("duplicate_charges_total")

    def increased(expr):
        return [({"currency": "USD"}, 6235.0)] if metric in expr else []

    skip = {"captured_once": "pass", "refunds_within_captures": "pass", "stored": "pass"}
    objective = _objective(catalog, None, increased, skip=skip, not_data="target 127.0.0.1:8000: counters reset")
    assert objective.status == "not measured", objective.reason
    assert "duplicates: not measured: target 127.0.0.1:8000: counters reset" in objective.reason, objective.reason


def test_every_check_skipped_is_not_measured_never_a_pass(tmp_path):
    catalog = _catalog(tmp_path, CHECKS)
    skip = {"captured_once": "pass", "refunds_within_captures": "pass", "stored": "pass", "duplicates": "pass"}
    objective = _objective(catalog, None, skip=skip)
    assert objective.status == "not measured", objective.reason
    assert objective.reason.count("(skipped: if_not_measured)") == 4, objective.reason


def test_the_duplicate_detectors_heartbeat_in_the_drill_is_evidence_of_the_detector(catalog):
    """The reference catalog: the duplicate detector's heartbeat later than the drill's start (1000) is a run; one
    before it, or none, is not, and the line names the heartbeat and the window."""
    from moneypath.catalog.conventions import Key

    beat = catalog.metric(Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS)
    ctx = MoneyCtx(catalog, lambda expr: [({}, 1050.0)] if beat in expr else [])
    try:
        seen, _ = impact._detector_seen(ctx)
        assert seen == "the duplicate detector ran at 00:17:30 UTC, within the window", seen
        ctx.prom.answer = lambda expr: [({}, 900.0)] if beat in expr else [({}, 0.0)]  # before the drill; counter 0
        assert impact._detector_seen(ctx) == (None, f'{beat}{{detector="duplicates"}} did not advance between '
                                                    "00:16:40 and 00:18:20 UTC: its last run was at 00:15:00")
        ctx.prom.answer = lambda expr: [({"currency": "USD"}, 0.0)]  # the gauge at 0, the heartbeat at 0 too
        [check] = impact._balance_checks(ctx)
        assert (check.name, check.outcome) == ("gauge", NOT_MEASURED) and \
            "is 0: not measured: detector not seen running" in check.why, check.why
    finally:
        ctx.http.close()
