"""The four ways of the drills' money kinds: the money objective (`ledger_balanced` with the ledger feature, else
`money_kept`) and the checks it is made of, in moneypath.drills.impact and moneypath.drills.money."""

from __future__ import annotations

from types import SimpleNamespace

from moneypath.catalog.conventions import Key
from moneypath.drills.baseline_load import PaymentOutcome
from moneypath.drills.journal import MoneyImpact
from tests.support.check_kinds import NO_FEATURE, NO_SKIP, Ways
from tests.support.drill_fakes import MoneyCtx
from tests.support.feature_catalogs import without

LOST = "payment p1 acknowledged, not stored"


def _impact(acknowledged: int = 0, lost: int | None = None) -> MoneyImpact:
    return MoneyImpact(payments_affected=0, duplicate_amount_minor={}, unreconciled_minor=None, writes_lost=lost,
                       acknowledged_payments=acknowledged, acknowledged_captures=0,
                       not_checked={} if lost is not None else {"writes_lost": "no --db-url, and no read call"})


class _Db:
    """A team database whose money-check queries answer as told: the ledger balanced, p1 captured `captures`
    times on the provider's records."""

    def __init__(self, catalog, captures: int = 1):
        self.catalog, self.captures = catalog, captures

    def declares(self, check):
        return check in ("capture_counts", "refunds", "balance")

    def breaks_since(self, t):
        return []

    def imbalance(self):
        return dict.fromkeys(self.catalog.currencies, 0)

    def for_ids(self, check, ids):
        if check == "capture_counts":
            return [{"id": i, "captures": self.captures} for i in sorted(ids)]
        return [{"id": i, "captured_minor": 1000, "refunded_minor": 0} for i in sorted(ids)]


def _objective(catalog, impact: MoneyImpact, lost_lines=(), **run) -> list[tuple]:
    """The money objective as ledger_objective records it: [(name, status, reason)]."""
    return [(o.name, o.status, o.reason) for o in _recorded(catalog, impact, lost_lines, **run)]


def _recorded(catalog, impact: MoneyImpact, lost_lines=(), balanced_gauge: bool = True, db=None, capture=None,
              outcomes=None) -> list:
    """The objectives ledger_objective records."""
    from moneypath.drills.impact import ledger_objective

    gauge = catalog.metric(Key.LEDGER_IMBALANCE_MINOR) if catalog.signal_on(Key.LEDGER_IMBALANCE_MINOR) else None
    beat = catalog.metric(Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS)  # every detector ran mid-drill (1000 to 1100)
    ctx = MoneyCtx(catalog, lambda expr: [({}, 1050.0)] if beat in expr else (
        [({"currency": c}, 0.0) for c in catalog.currencies] if balanced_gauge and gauge and gauge in expr else []))
    ctx.db = db
    if capture is not None:  # a drill whose load says how much it captures (0: the target captures by itself)
        ctx.drill = SimpleNamespace(load=SimpleNamespace(capture=capture, requests=SimpleNamespace(approved=None)))
    try:
        ledger_objective(ctx, impact, list(lost_lines), outcomes or [])
    finally:
        ctx.http.close()
    return ctx.objectives


def _checks(objectives) -> list:
    return [o.check for o in objectives]


def _money_passes(catalog):
    """Every check measured and held: stored, captured once and refunds within captures on the team's tables,
    the ledger balanced."""
    return _checks(_recorded(catalog, _impact(acknowledged=2, lost=0), db=_Db(catalog), capture=1.0,
                             outcomes=outcomes_captured_twice()))


def _money_fails(catalog):
    return _checks(_recorded(catalog, _impact(acknowledged=3, lost=1), [LOST]))


def _money_empty(catalog):
    return _checks(_recorded(catalog, _impact(), balanced_gauge=False))


def _ledger_off(catalog):
    """The ledger's own evidence (postings and gauge balanced) with the feature off: `money_kept`, which reads
    neither, and is not measured on it. The same input with the ledger on reads the balance (not vacuous)."""
    on = _objective(catalog, _impact(), db=_Db(catalog))
    assert [name for name, _, _ in on] == ["ledger_balanced"] and "postings sum to 0" in on[0][2], on
    off_catalog = without("ledger")
    recorded = _recorded(off_catalog, _impact(), db=_Db(off_catalog))
    off = [(o.name, o.status, o.reason) for o in recorded]
    assert [name for name, _, _ in off] == ["money_kept"], off
    assert "postings" not in off[0][2] and "is 0 in" not in off[0][2], off
    return _checks(recorded)


def _captured_by_the_target(catalog):
    """A drill with `load.capture: 0` (the target captures by itself): the stored payments are proven, the
    captures are not, so the objective may not read pass."""
    off_catalog = without("ledger")
    return _checks(_recorded(off_catalog, _impact(acknowledged=3, lost=0), capture=0.0))


def _evaluate(*calls):
    return lambda kind: [kind.evaluate(*call) for call in calls]


# A drill's load: p1 and p2 acknowledged and captured, p3 acknowledged only.
CAPTURED = {"p1", "p2"}
CAPTURE_ROWS = [{"id": "p1", "captures": 1}, {"id": "p2", "captures": 1}]
REFUND_ROWS = [{"id": "p1", "captured_minor": 1000, "refunded_minor": 400, "currency": "EUR"},
               {"id": "p2", "captured_minor": 1000, "refunded_minor": 0, "currency": "EUR"}]
def outcomes_captured_twice() -> list[PaymentOutcome]:
    """Payments a target acknowledged and captured by itself (the drill asked for no capture)."""
    return [PaymentOutcome(t=float(i), provider="p", currency="EUR", amount_minor=1000, correlation_id=f"c{i}",
                           payment_id=f"p{i}", state="captured", captured=True) for i in (1, 2)]


WAYS = {
    "drills.money_objective": Ways(
        passes=lambda kind, catalog: _money_passes(catalog), fails=lambda kind, catalog: _money_fails(catalog),
        empty=lambda kind, catalog: _money_empty(catalog),
        feature_off=lambda kind, catalog: _ledger_off(catalog),
        skipped=lambda kind, catalog: _captured_by_the_target(catalog)),
    "drills.money.payments_present": Ways(
        passes=_evaluate(({"p1", "p2"}, {"p1", "p2", "p3"})), fails=_evaluate(({"p1", "p2"}, {"p2"})),
        empty=_evaluate((set(), set()), ({"p1"}, None)),
        feature_off=NO_FEATURE + "every money path stores the payments it acknowledges (the core)",
        # no --db-url and no read call in the request template: the store cannot be read
        skipped=_evaluate(({"p1", "p2"}, None))),
    "drills.money.captured_once": Ways(
        passes=_evaluate((CAPTURE_ROWS, CAPTURED)),
        fails=_evaluate(([*CAPTURE_ROWS[:1], {"id": "p2", "captures": 2}], CAPTURED)),
        empty=_evaluate(([], CAPTURED), ([], set())),
        feature_off=NO_FEATURE + "captures, explicit or automatic, are the core of every money path",
        skipped=lambda kind, catalog: _captured_by_the_target(catalog)),
    "drills.money.refunds_within_captures": Ways(
        passes=_evaluate((REFUND_ROWS,)),
        fails=_evaluate(([{**REFUND_ROWS[0], "refunded_minor": 1400}, REFUND_ROWS[1]],)),
        empty=_evaluate(([],)),
        feature_off=NO_FEATURE + "refunds are the core of every money path",
        skipped=lambda kind, catalog: _captured_by_the_target(catalog)),
    "drills.money.ledger_balanced": Ways(
        passes=_evaluate(({"EUR": 0, "JPY": 0},)), fails=_evaluate(({"EUR": 0, "JPY": 1200},)),
        empty=_evaluate(({},)),
        feature_off=lambda kind, catalog: _ledger_off(catalog),
        skipped=NO_SKIP + "the balance is not skipped alone: `if_not_measured: {ledger_balanced: pass}` skips the "
                          "whole objective (drills.objectives), and a catalog without money_checks.balance makes "
                          "it not measured (the empty case)"),
}
XFAIL: dict = {}  # the (d) cases that fail for a known defect, strict so that the fix shows
