"""Every kind of check the product runs is in moneypath._common.verdict.CHECK_KINDS; fed an empty answer (an empty
Prometheus answer, no rows, no gate data), each one says "not measured", never pass and never a zero. A kind
registered without a case below fails the first test: a new kind must say what it does on nothing."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import moneypath
from moneypath._common.verdict import CHECK_KINDS, NOT_MEASURED, PASS, status_of

REGISTERS = re.compile(r"^from moneypath\._common\.verdict import [^\n]*\bregister\b", re.M)


def _import_everything() -> None:
    """Each kind registers itself from its own module: import every module that imports `register` (found by
    reading the files: importing every package would start processes and patch this one with Locust's gevent)."""
    src = Path(moneypath.__file__).parent
    for path in sorted(src.rglob("*.py")):
        if REGISTERS.search(path.read_text()):
            importlib.import_module(".".join(("moneypath", *path.relative_to(src).with_suffix("").parts)))


def _status(result) -> str:
    """(ok, reason) as a check returns it, or a bare verdict string."""
    return status_of(result[0]) if isinstance(result, tuple) else result


def _expect(kind):
    from moneypath.formats.expect import Expect

    return [_status(kind.evaluate([Expect(**{op: 0})], [])) for op in ("min", "max", "above", "below")]


def _checks(kind):
    from moneypath.formats.drill import Check

    checks = [Check(name="quiet", promql="sum(rate(x_total[1m]))", expect={"max": 0})]
    return [_status(kind.evaluate([(c, *_check_all(c)) for c in checks])), _status(kind.evaluate([]))]


def _check_all(check):
    from moneypath.formats.expect import check_all

    return check_all(check.expect, [])


def _halt(kind):
    from moneypath.formats.drill import Check

    return [_status(kind.evaluate(Check(name="too many errors", promql="x", expect={"above": 5}), []))]


def _diagnosis_step(kind, catalog):
    from moneypath.formats.expect import Expect
    from tests.support.drill_fakes import FakeProm

    prom = FakeProm()
    ctx = SimpleNamespace(drill=SimpleNamespace(runbook_steps={"errors": {"promql": "sum(x_total)"},
                                                               "rows": {"sql": "SELECT 1"}}),
                          prom=prom, db=None, catalog=catalog, clock=lambda: 1000.0)
    diagnosis = SimpleNamespace(ctx=ctx)
    return [kind.evaluate(diagnosis, name, [Expect(max=0)]).ok for name in ("errors", "rows")]


def _objectives(kind):
    return [kind.evaluate([])]


def _money_objective(kind, catalog):
    from moneypath.drills.journal import MoneyImpact
    from tests.support.drill_fakes import MoneyCtx

    ctx = MoneyCtx(catalog, lambda expr: [])
    try:
        kind.evaluate(ctx, MoneyImpact(payments_affected=0, duplicate_amount_minor={}, unreconciled_minor=None,
                                       writes_lost=None, acknowledged_payments=0, acknowledged_captures=0), [], [])
    finally:
        ctx.http.close()
    return [o.status for o in ctx.objectives]


def _gates(kind, catalog):
    from moneypath.formats.scenarios import Scenario
    from moneypath.loadtest import gates
    from moneypath.loadtest.stats import Summary

    nothing = Summary(duration_s=0, http_requests=0, http_failures=0, rps=0, judged_requests=0, judged_failures=0,
                      authorizations=0, authorize_rps=0, authorize_p50_ms=None, authorize_p95_ms=None,
                      authorize_p99_ms=None, p99_ms=None, duplicate_checks=None, duplicates_seen=None)
    result = kind.evaluate(nothing, gates.PromObservations(), gates.thresholds(catalog, 30),
                           Scenario(description="d", name="checkout"))
    assert not [g.name for g in result if g.status == PASS], "a gate passed on nothing"
    return [gates.gates_verdict(result)]


def _drift_gates(kind):
    from moneypath.formats.scenarios import Scenario
    from moneypath.loadtest import gates
    from moneypath.loadtest.soak import drift

    metrics = [drift.Metric(key=key, title=key, unit="") for key in gates.DRIFT_GATES]
    result = kind.evaluate(drift.Drift(limit=0.1, windows=None, metrics=metrics), Scenario(description="d", name="s"))
    return [g.status for g in result]


def _capacity_step(kind):
    from moneypath.loadtest.gates import Gate

    no_data = Gate("p99_latency_prometheus", "p99", "prometheus", NOT_MEASURED, "no data", "<= 300 ms", "nothing")
    return [kind.evaluate([no_data])[0], kind.evaluate([])[0]]


def _live(kind):
    return [_status(kind.evaluate({"x_total"}, set(), "http://prom", "1d")), _status(kind.evaluate(set(), set(), "u", "1d"))]


def _canary(kind):
    return [kind.evaluate([], [], []), kind.evaluate([], [{"invariant": "duplicate_charges", "judged": True,
                                                          "status": NOT_MEASURED, "reason": "not measured: nothing"}])]


def _money(name):
    def case(kind):
        args = {"drills.money.payments_present": [(set(), set()), ({"p1"}, None)],
                "drills.money.captured_once": [([], {"p1"}), ([], set())],
                "drills.money.refunds_within_captures": [([],)],
                "drills.money.ledger_balanced": [({},)]}[name]
        return [_status(kind.evaluate(*a)) for a in args]
    return case


def _history(kind):
    # an empty history, none of it signed; and an empty history against an empty checkpoint directory
    return [kind.evaluate(0, False, None), kind.evaluate(0, False, 0)]


def _control(kind):
    return [_status(kind.evaluate("PCI-DSS-12.10.2", [])), _status(kind.evaluate("SOC2-CC7.4", [
        {"seq": 1, "verdict": "fail", "controls": ["SOC2-CC7.4"]}]))]


def _readiness(kind, catalog):
    from tests.conftest import ROOT

    return [a.status for a in kind.evaluate(catalog, [], ROOT, 0.0)]


def _classification(kind):
    from moneypath.catalog.business_services import Thresholds
    from moneypath.check.classification import Measures

    # nothing measured at all, the service critical: never "not major"
    return [kind.evaluate(Measures(service="s", critical=True, duration_s=0.0), Thresholds()).result]


def _tolerance(kind):
    return [kind.evaluate([])]


def _canary_release(kind):
    return [kind.evaluate(expect, None)[0] for expect in ("pass", "fail")]


CASES = {
    "formats.expect": _expect,
    "drills.checks": _checks,
    "drills.halt_condition": _halt,
    "drills.diagnosis_step": _diagnosis_step,
    "drills.objectives": _objectives,
    "drills.money_objective": _money_objective,
    "drills.money.payments_present": _money("drills.money.payments_present"),
    "drills.money.captured_once": _money("drills.money.captured_once"),
    "drills.money.refunds_within_captures": _money("drills.money.refunds_within_captures"),
    "drills.money.ledger_balanced": _money("drills.money.ledger_balanced"),
    "loadtest.gates": _gates,
    "loadtest.drift_gates": _drift_gates,
    "loadtest.capacity_step": _capacity_step,
    "check.live": _live,
    "drills.history": _history,
    "drills.evidence.control": _control,
    "check.readiness": _readiness,
    "check.classification": _classification,
    "drills.tolerance": _tolerance,
    "check.canary": _canary,
    "drills.canary.release": _canary_release,
}
# What an empty answer gives where it is not "not measured", and why.
NOT_NOT_MEASURED = {
    # no objective at all: the run stopped before it judged anything, a fail (journal.objectives_verdict)
    "drills.objectives": "fail",
}


def test_every_registered_kind_of_check_has_a_case():
    _import_everything()
    assert CHECK_KINDS, "nothing registered"
    missing = sorted(set(CHECK_KINDS) - set(CASES))
    assert not missing, f"kinds of check without an empty-answer case in {__name__}: {', '.join(missing)}"
    gone = sorted(set(CASES) - set(CHECK_KINDS))
    assert not gone, f"cases for kinds nobody registers: {', '.join(gone)}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_empty_answer_is_not_measured_never_a_pass(name, catalog):
    _import_everything()
    kind = CHECK_KINDS[name]
    case = CASES[name]
    statuses = case(kind, catalog) if "catalog" in case.__code__.co_varnames[:case.__code__.co_argcount] else case(kind)
    statuses = [NOT_MEASURED if s is None else s for s in statuses]  # an EvidenceStep's ok None
    assert statuses and PASS not in statuses and True not in statuses, (name, statuses)
    assert set(statuses) == {NOT_NOT_MEASURED.get(name, NOT_MEASURED)}, (name, statuses)

