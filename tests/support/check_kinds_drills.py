"""The four ways of the drills' kinds of check: steady-state and recovery checks, halt conditions, diagnosis
steps, objectives and their verdict, tolerances, the history, the evidence pack's controls and a canary drill's
releases (the money objective and its checks: tests/support/check_kinds_money.py)."""

from __future__ import annotations

from types import SimpleNamespace

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS
from moneypath.drills.baseline_load import PaymentOutcome
from moneypath.drills.journal import Objective
from moneypath.formats.drill import Alerts, CheckSpec, DiagnosisSpec, StepSpec
from moneypath.formats.expect import Expect, check_all
from moneypath.readiness.catalogs import Recorded
from tests.support.check_kinds import NO_FAIL, NO_FEATURE, NO_SKIP, Ways, status
from tests.support.drill_fakes import Clock, FakeProm

QUIET = "sum(rate(x_total[1m]))"
ERRORS = {"quiet": [({}, 0.0)], "noisy": [({"provider": "p"}, 4.0)], "nothing": []}


# ---------------------------------------------------------------- formats.expect


def _expect(answer):
    def case(kind):
        return [kind.evaluate([Expect(**{op: 0})], ERRORS[answer]) for op in ("min", "max")]
    return case


def _expect_empty(kind):
    # a value condition on nothing; and no expectation at all on an answer
    return [kind.evaluate([Expect(**{op: 0})], []) for op in ("min", "max", "above", "below")] + [
        kind.evaluate([], ERRORS["quiet"])]


# ---------------------------------------------------------------- drills.checks


def _round(kind, answers: list[str], policy: str = "fail"):
    checks = [CheckSpec(name=f"check {i}", promql=QUIET, expect={"max": 0}, if_not_measured=policy)
              for i in range(len(answers))]
    return kind.evaluate([(c, *check_all(c.expect, ERRORS[a])) for c, a in zip(checks, answers)])


def _checks_pass(kind):
    return [_round(kind, ["quiet", "quiet"])]


def _checks_fail(kind):
    return [_round(kind, ["quiet", "noisy"])]


def _checks_empty(kind):
    return [_round(kind, ["nothing"]), kind.evaluate([])]


def _checks_skipped(kind):
    # every check says `if_not_measured: pass` and measured nothing: skipped, shown, never a pass
    return [_round(kind, ["nothing", "nothing"], policy="pass")]


# ---------------------------------------------------------------- drills.halt_condition (pass: the guard holds)


def _halt(answer: str, policy: str = "fail"):
    def case(kind):
        check = CheckSpec(name="errors", promql=QUIET, expect={"above": 1}, if_not_measured=policy)
        return [kind.evaluate(check, ERRORS[answer])]
    return case


# ---------------------------------------------------------------- drills.diagnosis_step


class _DiagnosisCtx:
    """What Diagnosis reads of a drill run: the runbook's steps, a Prometheus, no database, a clock that moves."""

    def __init__(self, catalog, answer: str, policy: str = "fail"):
        steps = [StepSpec(step=name, expect={"max": 0}, if_not_measured=policy) for name in ("errors", "retries")]
        self.drill = SimpleNamespace(runbook_steps={s.step: {"promql": QUIET} for s in steps},
                                     diagnosis=DiagnosisSpec(within=10, steps=steps), runbook_page="runbooks/x.md",
                                     alerts=Alerts(expected=[{"alert": "PaymentsFailing", "page_within": 30}]))
        self.prom, self.db, self.catalog, self.clock = FakeProm(), None, catalog, Clock()
        self.started_at = self.clock()
        self.prom.answer = lambda expr: ERRORS[answer]
        self.objectives = []
        self.counters_not_data = lambda: None  # the target's rates are data (conservation, counter resets)

    def s(self, seconds):
        return seconds

    def confine(self, expr, runbook=False, since=None):
        from moneypath.generate.windows import own_window

        return own_window(expr, 1, 60)  # a minute into the drill, on a target as fast as the drill file

    def event(self, kind, text, detail=None):
        pass

    def sleep_ticking(self, seconds, until=None):
        self.clock.t += seconds

    def objective(self, name, ok, reason, if_not_measured=None):
        self.objectives.append(Objective(name=name, ok=ok is True, reason=reason, status=status(ok),
                                         if_not_measured=if_not_measured or "fail"))


def _step(answer: str):
    def case(kind, catalog):
        from moneypath.drills.diagnosis import Diagnosis

        diagnosis = Diagnosis(_DiagnosisCtx(catalog, answer))
        steps = [kind.evaluate(diagnosis, "errors", [Expect(max=0)]).check]
        return steps + (_diagnosed(kind, catalog) if answer == "quiet" else [])
    return case


def _step_empty(kind, catalog):
    from moneypath.drills.diagnosis import Diagnosis

    ctx = _DiagnosisCtx(catalog, "nothing")
    ctx.drill.runbook_steps["rows"] = {"sql": "SELECT 1"}  # a SQL step, and no database
    steps = [kind.evaluate(Diagnosis(ctx), name, [Expect(max=0)]).check for name in ("errors", "rows")]
    # the expected page never came: the steps' evidence, read from when the diagnosis started, diagnosed nothing
    quiet = _DiagnosisCtx(catalog, "quiet")
    Diagnosis(quiet).run(first_page=None)
    return steps + [o.check for o in quiet.objectives]


def _diagnosed(kind, catalog):
    """The "diagnosed" objective of a whole diagnosis, from the expected page at t=1000."""
    from moneypath.drills.diagnosis import Diagnosis

    ctx = _DiagnosisCtx(catalog, "quiet")
    Diagnosis(ctx).run(first_page=1000.0)
    return [o.check for o in ctx.objectives]


def _step_skipped(kind, catalog):
    # every step says `if_not_measured: pass` and finds nothing: the steps and "diagnosed" are not measured
    from moneypath.drills.diagnosis import Diagnosis

    ctx = _DiagnosisCtx(catalog, "nothing", policy="pass")
    diagnosis = Diagnosis(ctx)
    diagnosis.run(first_page=1000.0)
    return [s.check for s in diagnosis.steps] + [o.check for o in ctx.objectives]


# ---------------------------------------------------------------- drills.objectives


def _objective(name: str, st: str, policy: str = "fail") -> Objective:
    return Objective(name=name, ok=st == PASS, reason=st, status=st, if_not_measured=policy)


def _objectives(*statuses: str, policy: str = "fail"):
    names = ("steady_state_before", "detected", "paged_once", "diagnosed", "recovered", "money_kept")
    return lambda kind: [kind.evaluate([_objective(n, s, policy) for n, s in zip(names, statuses)])]


# ---------------------------------------------------------------- drills.tolerance


def business_service(catalog) -> str:
    return next(iter(catalog.business_services))


def drill_outcomes(catalog, affected: int) -> list[PaymentOutcome]:
    """A drill's payments, one a second from t=0 to 99 s, in a currency the service has a tolerance for; the
    `affected` ones from t=50 failed."""
    currency = next(iter(catalog.business_services[business_service(catalog)].tolerance.value_held_up))
    return [PaymentOutcome(t=float(i), provider="p", currency=currency, amount_minor=1000, correlation_id=f"c{i}",
                           payment_id=None if 50 <= i < 50 + affected else f"p{i}",
                           error="timeout" if 50 <= i < 50 + affected else None, finished=i + 0.2) for i in range(100)]


def _tolerance(affected: int):
    def case(kind, catalog):
        from moneypath.drills.tolerance import DrillTraffic, impact

        result = impact(catalog, business_service(catalog), DrillTraffic(drill_outcomes(catalog, affected), 100.0, 60.0),
                        49.0, 100.0)
        return [kind.evaluate(result.tolerances), result.within_tolerance]
    return case


def _tolerance_empty(kind, catalog):
    # no tolerance at all; and a drill whose fault ran while it sent no payment: "0 affected" is no evidence
    from moneypath.drills.tolerance import DrillTraffic, impact

    nothing = impact(catalog, business_service(catalog), DrillTraffic([], 100.0, 60.0), 49.0, 100.0)
    return [kind.evaluate([]), kind.evaluate(nothing.tolerances), nothing.within_tolerance]


def _tolerance_skipped(kind, catalog):
    # a drill file naming no business_service, and a drill whose fault never ran: no tolerance is judged
    from moneypath.drills.tolerance import DrillTraffic, impact

    outcomes = drill_outcomes(catalog, 3)
    unnamed = impact(catalog, None, DrillTraffic(outcomes, 100.0, 60.0), 49.0, 100.0)
    no_fault = impact(catalog, business_service(catalog), DrillTraffic(outcomes, 100.0, 60.0), None, None)
    return [kind.evaluate(unnamed.tolerances), unnamed.within_tolerance, kind.evaluate(no_fault.tolerances),
            no_fault.within_tolerance]


# ---------------------------------------------------------------- readiness.history, readiness.evidence.control


def _control(records: list[dict]):
    return lambda kind: [kind.evaluate("PCI-DSS-12.10.2", records)]


def _record(seq: int, verdict: str) -> dict:
    return {"seq": seq, "verdict": verdict, "controls": ["PCI-DSS-12.10.2"]}


def _flow(*newest_first):
    """A period's records (given newest first), each with its catalog as readiness.catalogs reads it."""
    def case(kind):
        period = [(seq, Recorded("a" * 64, outcome, why)) for seq, (outcome, why) in
                  enumerate(reversed(newest_first), start=1)]
        return [kind.evaluate(period, 1 if period else None)]
    return case


# ---------------------------------------------------------------- canary.release


def _release(*calls):
    return lambda kind: [kind.evaluate(*call) for call in calls]


WAYS = {
    "formats.expect": Ways(
        passes=_expect("quiet"), fails=_expect("noisy"), empty=_expect_empty,
        feature_off=NO_FEATURE + "an expectation on any query's answer; what the query reads is its caller's",
        skipped=NO_SKIP + "`if_not_measured` belongs to the check or step that holds the expectation "
                          "(drills.checks, drills.diagnosis_step)"),
    "drills.checks": Ways(
        passes=_checks_pass, fails=_checks_fail, empty=_checks_empty,
        feature_off=NO_FEATURE + "steady-state and recovery checks are the drill file's own PromQL",
        skipped=_checks_skipped),
    "drills.halt_condition": Ways(
        passes=_halt("noisy"), fails=_halt("quiet"), empty=_halt("nothing"),
        feature_off=NO_FEATURE + "halt conditions are the drill file's own PromQL",
        skipped=_halt("nothing", policy="pass")),
    "drills.diagnosis_step": Ways(
        passes=_step("quiet"), fails=_step("noisy"), empty=_step_empty,
        feature_off=NO_FEATURE + "runbook steps are the team's PromQL and SQL; a SQL step without a database "
                                 "(--db-url) is the empty case",
        skipped=_step_skipped),
    "drills.objectives": Ways(
        passes=_objectives(PASS, PASS, PASS), fails=_objectives(PASS, FAIL, NOT_MEASURED),
        empty=lambda kind: [kind.evaluate([])],
        feature_off=NO_FEATURE + "the verdict over whatever objectives were judged; the feature picks the money "
                                 "objective (drills.money_objective)",
        skipped=_objectives(NOT_MEASURED, NOT_MEASURED, policy="pass")),
    "drills.tolerance": Ways(
        passes=_tolerance(3), fails=_tolerance(40), empty=_tolerance_empty,
        feature_off=NO_FEATURE + "impact tolerances are the catalog's business_services section",
        skipped=_tolerance_skipped),
    "readiness.history": Ways(
        passes=lambda kind: [kind.evaluate(3, False, 3)], fails=lambda kind: [kind.evaluate(3, True, 3)],
        empty=lambda kind: [kind.evaluate(0, False, None), kind.evaluate(0, False, 0)],
        feature_off=NO_FEATURE + "the drill history is moneypath's own record (the audit feature is the "
                                 "service's trail, not this one)",
        # no signing key given, or the newest signed checkpoint older than the newest record
        skipped=lambda kind: [kind.evaluate(3, False, None), kind.evaluate(3, False, 2)]),
    "readiness.evidence.control": Ways(
        passes=_control([_record(1, FAIL), _record(2, PASS)]),  # its drill's latest run passed
        fails=NO_FAIL + "a control is covered or missing; a failed record is no evidence (missing, not measured)",
        empty=lambda kind: [kind.evaluate("PCI-DSS-12.10.2", []),
                            kind.evaluate("SOC2-CC7.4", [{"seq": 1, "verdict": "fail", "controls": ["SOC2-CC7.4"]}])],
        feature_off=NO_FEATURE + "controls are the drill files' `controls:`",
        # a drill whose checks were all skipped is not measured: it covers nothing
        skipped=_control([_record(1, NOT_MEASURED), _record(2, FAIL)])),
    "readiness.evidence.dataflow": Ways(
        passes=_flow((PASS, ""), (NOT_MEASURED, "catalog not recorded")),
        fails=NO_FAIL + "a data-flow diagram is drawn from the recorded catalog or not measured; a copy that does "
                        "not hash to its record is not measured, never drawn",
        empty=_flow(),
        # a catalog without the optional money_path: section has no diagram to draw
        feature_off=lambda kind: [kind.evaluate([(1, Recorded("a" * 64, PASS, "", "service: x"))], 1,
                                                "catalog aaaa… declares no money path (no money_path: section)")],
        skipped=NO_SKIP + "the diagram is drawn for every pack; the newest record's catalog unusable is not measured"),
    "canary.release": Ways(
        passes=_release(("pass", "pass"), ("fail", "fail", True)),
        fails=_release(("pass", "fail"), ("fail", "fail", False)),
        empty=lambda kind: [kind.evaluate(expect, None)[0] for expect in ("pass", "fail")],
        feature_off=NO_FEATURE + "a release expects the verdict its drill file gives; the money invariants by "
                                 "feature are canary.verdict's",
        skipped=NO_SKIP + "every release of a canary drill is judged; one never reached leaves the drill's "
                          "verdict not measured (canary.drill_run.CanaryDrillRun.journal)"),
}
