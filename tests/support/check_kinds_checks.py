"""The four ways of the load test's kinds (gates, drift gates, capacity steps) and of `moneypath check`'s (live
lint coverage, canary, readiness, DORA classification)."""

from __future__ import annotations

from dataclasses import replace

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Check, Verdict
from moneypath.catalog.conventions import AlertKey, Key
from moneypath.catalog.features import FEATURES
from moneypath.formats.scenarios import GATE_NAMES, Scenario
from moneypath.loadtest.command.stats import Summary
from tests.support.check_kinds import ABSENT, NO_FAIL, NO_FEATURE, NO_SKIP, Ways
from tests.support.feature_catalogs import without

FEATURES_WITH_GATES = ("ledger", "reconciliation", "idempotency", "breaker")

# ---------------------------------------------------------------- check.conservation


def _conserved(sent: int, acknowledged: int):
    from moneypath.check.conservation import ANY, GroundTruth

    return GroundTruth(target="127.0.0.1:8000", start=100.0, end=160.0, sent=sent, acknowledged={ANY: acknowledged})


def _conserved_count(total: float):
    from moneypath.check.conservation import Counted

    return Counted(metric="shop_authorizations_total", target="127.0.0.1:8000", start=100.0, end=160.0, total=total)


# ---------------------------------------------------------------- loadtest.gates


def _summary(p99_ms: float | None = 120.0, failures: int = 0, requests: int = 1000) -> Summary:
    """A retry-storm run: `requests` authorizations, each key replayed and answered with its one payment."""
    return Summary(duration_s=60, http_requests=requests, http_failures=failures, rps=requests / 60,
                   judged_requests=requests, judged_failures=failures, authorizations=requests,
                   authorize_rps=requests / 60, authorize_p50_ms=p99_ms and p99_ms / 3, authorize_p95_ms=p99_ms,
                   authorize_p99_ms=p99_ms, p99_ms=p99_ms, duplicate_checks=requests if requests else None,
                   duplicates_seen=0 if requests else None, keys_completed=requests if requests else None)


def _observed(thr, **changes):
    from moneypath.loadtest.command.gates import PromObservations

    good = dict(p99_s=0.12, error_ratio=0.0, authorizations=1000, duplicate_charges=0, ledger_imbalance_max_abs=0,
                caught_up_after_s=5.0, oldest_unreconciled_s=0.0, circuit_max=thr.circuit_open_value)
    return PromObservations(**{**good, **changes})


def _scenario(catalog, **fields) -> Scenario:
    return Scenario(description="checkout at 1x", name="checkout", expect_circuit_open=next(iter(catalog.providers)),
                    **fields)


def _gates(catalog, summary, scenario=None, **changes):
    from moneypath.loadtest.command import gates

    thr = gates.thresholds(catalog, 30)
    return gates.evaluate(summary, _observed(thr, **changes), thr, scenario or _scenario(catalog))


def _checks(gates) -> list[Check]:
    return [g.check for g in gates]


def _with_verdict(result, judged_only: bool = False) -> list:
    """Each gate's check (a skipped one left out with `judged_only`) and the run's verdict over them all."""
    return [*(c for c in _checks(result) if not (judged_only and c.skipped)), Verdict(_checks(result))]


def _gates_pass(kind, catalog):
    """Every gate that applies passes (a gate that does not apply to the scenario is shown skipped)."""
    return _with_verdict(_gates(catalog, _summary()), judged_only=True)


def _gates_fail(kind, catalog):
    return _with_verdict(_gates(catalog, _summary(), duplicate_charges=2))


def _gates_empty(kind, catalog):
    from moneypath.loadtest.command import gates

    nothing = _summary(p99_ms=None, requests=0)
    result = kind.evaluate(nothing, gates.PromObservations(), gates.thresholds(catalog, 30),
                           Scenario(description="d", name="checkout"))
    return _with_verdict(result, judged_only=True)


def _gates_feature_off(kind, catalog):
    """The gates of the ledger, reconciliation, idempotency and the breaker with those features off and every one
    of their figures good: skipped, naming the feature. With the features on the same figures pass."""
    from moneypath.loadtest.command.gates import FEATURE_GATES

    on = {g.name: g.status for g in _gates(catalog, _summary()) if g.name in FEATURE_GATES}
    assert on == dict.fromkeys(FEATURE_GATES, PASS), on
    off = [g for g in _gates(without(*FEATURES_WITH_GATES), _summary()) if g.name in FEATURE_GATES]
    assert sorted(g.name for g in off) == sorted(FEATURE_GATES), off
    assert all(g.reason == f"feature {FEATURE_GATES[g.name]} is off" for g in off), off
    return _checks(off)


def _gates_skipped(kind, catalog):
    """A scenario that skips every gate: each skipped, and the run's verdict over them never a pass."""
    every = _gates(catalog, _summary(), _scenario(catalog, skip_gates=list(GATE_NAMES)))
    return _with_verdict(every)


# ---------------------------------------------------------------- loadtest.drift_gates


def _drift(**run):
    from tests.support import drift_samples

    return drift_samples.compute(drift_samples.run(**run), duration_s=run.get("duration_s", 600.0))


def _drift_case(scenario_fields=None, **run):
    return lambda kind: _checks(kind.evaluate(_drift(**run), Scenario(description="soak", name="soak",
                                                                      **(scenario_fields or {}))))


def _drift_empty(kind):
    from moneypath.loadtest.command import gates
    from moneypath.loadtest.command.soak import drift

    metrics = [drift.Metric(key=key, title=key, unit="") for key in gates.DRIFT_GATES]
    return _checks(kind.evaluate(drift.Drift(limit=0.1, windows=None, metrics=metrics),
                                 Scenario(description="d", name="s")))


def _drift_skipped(kind):
    from moneypath.loadtest.command.gates import DRIFT_GATES

    # a scenario skipping the drift gates, and a run too short to judge drift at all
    skipping = _drift_case({"skip_gates": list(DRIFT_GATES.values())})(kind)
    return skipping + _drift_case(duration_s=100.0)(kind)


# ---------------------------------------------------------------- loadtest.capacity_step


def _step(kind, catalog, summary, **changes):
    from moneypath.loadtest.command.capacity.plan import STEP_GATES

    return [kind.evaluate([g for g in _gates(catalog, summary, **changes) if g.name in STEP_GATES])[0]]


def _step_skipped(kind, catalog):
    """A step whose gates are all skipped (a catalog without a latency or an availability SLO, a run that judges
    none of them): no pass."""
    from moneypath.loadtest.command.capacity.plan import STEP_GATES

    judged = [g for g in _gates(catalog, _summary()) if g.name in STEP_GATES]
    return [kind.evaluate([replace(g, skipped=True, reason="not judged in this run") for g in judged])[0]]


# ---------------------------------------------------------------- canary.verdict


class _CanaryProm:
    """Prometheus for the money invariants: no duplicate-charge series, the ledger's gauge 0 in every currency, and
    every detector's heartbeat at the query's time (it ran)."""

    def __init__(self, catalog):
        self.catalog = catalog

    def instant(self, query, at=None):
        if self.catalog.metric(Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS) in query:
            return [{"metric": {}, "value": [at, str(at)]}]
        if self.catalog.signal_on(Key.LEDGER_IMBALANCE_MINOR) and self.catalog.metric(Key.LEDGER_IMBALANCE_MINOR) in query:
            return [{"metric": {"currency": c}, "value": [at, "0"]} for c in self.catalog.currencies]
        return []


def _canary_invariants(catalog):
    from moneypath.canary.invariants import prometheus_invariants

    return prometheus_invariants(catalog, _CanaryProm(catalog), ('track="canary"',), 600, 1e9)


def _metric(status: str = PASS):
    from moneypath.canary.results import MetricRow

    return MetricRow.of(status, metric="authorization_errors", reason="reached its planned sample")


def _duplicates(status: str = PASS, reason: str = "no duplicate charge"):
    from moneypath.canary.results import InvariantResult

    return InvariantResult(invariant="duplicate_charges", description="", judged=True, status=status, reason=reason)


def _canary_feature_off(kind, catalog):
    """The ledger's gauge balanced, no other evidence: with the ledger on, its invariant passes; off, it is not
    asked, and the pass rests on nothing."""
    on = {i.invariant: i.status for i in _canary_invariants(catalog)}
    assert on == {"duplicate_charges": NOT_MEASURED, "ledger_imbalance": PASS}, on
    off = _canary_invariants(without("ledger"))
    assert [i.invariant for i in off] == ["duplicate_charges"], off
    return [kind.evaluate([], off)]


def _canary_skipped(kind):
    from moneypath.canary.invariants import writes_lost
    from moneypath.canary.results import SKIPPED

    # no --database (writes lost shown, not judged) and no traffic in either arm (every metric skipped)
    return [kind.evaluate([_metric(SKIPPED)], [writes_lost(False)])]


# ---------------------------------------------------------------- check.readiness

NOW = 1_800_000_000.0
DAY = 86400.0


def _readiness_found(catalog, alert_key: str, records: list[dict]) -> list:
    from moneypath.check.rehearsals import readiness
    from tests.conftest import ROOT

    return [a for a in readiness(catalog, records, ROOT, NOW) if a.key == alert_key]


def _readiness_of(catalog, alert_key: str, records: list[dict]) -> list:
    return [a.check for a in _readiness_found(catalog, alert_key, records)] or [ABSENT]


def _drilled(catalog, alert_key: str, days_ago: float, verdict: str = PASS) -> dict:
    from tests.support.drill_history import fields

    return fields(ended=NOW - days_ago * DAY, verdict=verdict, alert=catalog.alert_name(alert_key))


def _readiness_feature_off(kind, catalog):
    """A drill of the ledger's paging alert passed yesterday: ready with the ledger on; with it off the alert is
    not the catalog's, and readiness lists nothing for it."""
    key = next(a for a in FEATURES["ledger"].alerts if catalog.alerts[a].severity == "page")
    records = [_drilled(catalog, key, 1)]
    assert [a.status for a in _readiness_found(catalog, key, records)] == [PASS]
    return _readiness_of(without("ledger"), key, records)


def _readiness_skipped(kind, catalog):
    from tests.support.drill_history import run

    # a tabletop exercise (no fault, nothing pages): it rehearses the roles, not the alert
    tabletop = run("duplicate-charge", NOW - DAY, alerts=[], kind="tabletop")
    return _readiness_of(catalog, AlertKey.DUPLICATE_CHARGE_DETECTED, [tabletop])


# ---------------------------------------------------------------- check.classification (pass: not major)


def _classify(**measures):
    def case(kind):
        from moneypath.catalog.business_services import Thresholds
        from moneypath.check.classification import MAJOR, NOT_MAJOR, Measures

        result = kind.evaluate(Measures(service="s", critical=True, **measures), Thresholds()).result
        return [{NOT_MAJOR: PASS, MAJOR: FAIL}.get(result, result)]
    return case


def _classification_empty(kind, catalog):
    from moneypath.drills.tolerance import DrillTraffic, impact
    from tests.support.check_kinds_drills import business_service

    # nothing measured at all, the service critical; and a drill whose fault ran while it sent no payment:
    # never "not major"
    nothing = impact(catalog, business_service(catalog), DrillTraffic([], 100.0, 60.0), 49.0, 100.0).classification
    return [_classify(duration_s=0.0)(kind)[0], NOT_MEASURED if nothing is None else nothing["result"]]


def _classification_skipped(kind, catalog):
    from moneypath.drills.tolerance import DrillTraffic, impact
    from tests.support.check_kinds_drills import business_service, drill_outcomes

    # a drill file naming no business_service, and one whose fault never ran: nothing is classified
    outcomes = drill_outcomes(catalog, 3)
    results = [impact(catalog, None, DrillTraffic(outcomes, 100.0, 60.0), 49.0, 100.0),
               impact(catalog, business_service(catalog), DrillTraffic(outcomes, 100.0, 60.0), None, None)]
    return [NOT_MEASURED if r.classification is None else r.classification["result"] for r in results]


def _identities(*up: int) -> list:
    """Two instances scraped (a1b2c3-1 and d4e5f6-2), each target up or not."""
    from moneypath.check.scraped_identity import Scraped

    return [Scraped(ident, f"127.0.0.1:810{k}", "shop", bool(u)) for k, (ident, u) in
            enumerate(zip(("a1b2c3-1", "d4e5f6-2"), up))]


WAYS = {
    "loadtest.gates": Ways(
        passes=_gates_pass, fails=_gates_fail, empty=_gates_empty, feature_off=_gates_feature_off,
        skipped=_gates_skipped),
    "loadtest.drift_gates": Ways(
        passes=_drift_case(), fails=_drift_case(cpu_growth=0.5), empty=_drift_empty,
        feature_off=NO_FEATURE + "the service's CPU, memory and database file, whatever its features",
        skipped=_drift_skipped),
    "loadtest.capacity_step": Ways(
        passes=lambda kind, catalog: _step(kind, catalog, _summary()),
        fails=lambda kind, catalog: _step(kind, catalog, _summary(p99_ms=5000.0)),
        empty=lambda kind: [kind.evaluate([g])[0] for g in _empty_step_gates()] + [kind.evaluate([])[0]],
        feature_off=NO_FEATURE + "a step is judged by latency and failure gates, the core's",
        skipped=_step_skipped),
    "check.live": Ways(
        passes=lambda kind: [kind.evaluate({"x_total", "y_total"}, {"x_total", "y_total", "up"}, "http://prom", "1d")],
        fails=NO_FAIL + "it says whether there is anything to judge; a metric missing from the server is one of "
                        "lint_live's problems",
        empty=lambda kind: [kind.evaluate({"x_total"}, set(), "http://prom", "1d"),
                            kind.evaluate(set(), set(), "http://prom", "1d")],
        feature_off=NO_FEATURE + "a disabled feature's rules and panels are not generated, so not read",
        skipped=NO_SKIP + "`lint --prometheus` judges every expression the project's rules and dashboards hold"),
    "check.instrumentation_errors": Ways(
        passes=lambda kind: [kind.evaluate({"127.0.0.1:8000 (job svc)": 0.0}, "shop_instrumentation_errors_total", "1d")],
        fails=lambda kind: [kind.evaluate({"127.0.0.1:8000 (job svc)": 0.0, "127.0.0.1:8001 (job svc)": 2.0},
                                          "shop_instrumentation_errors_total", "1d")],
        empty=lambda kind: [kind.evaluate(None, "shop_instrumentation_errors_total", "1d")],
        feature_off=NO_FEATURE + "every catalog declares instrumentation_errors_total, whatever its features",
        skipped=NO_SKIP + "`lint --prometheus` reads it on every target that exports it"),
    "check.scraped_identity": Ways(
        passes=lambda kind: [kind.evaluate("127.0.0.1:8001", {"a1b2c3-1", "d4e5f6-2"}, _identities(1, 1), "m")],
        fails=lambda kind: [kind.evaluate("127.0.0.1:8001", {"0a0b0c-3"}, _identities(1, 1), "m")],
        empty=lambda kind: [kind.evaluate("127.0.0.1:8001", {"a1b2c3-1"}, None, "m"),
                            kind.evaluate("127.0.0.1:8001", {"a1b2c3-1"}, _identities(0, 1), "m")],
        feature_off=NO_FEATURE + "every service on the library answers with its identity, whatever its features",
        skipped=lambda kind: [kind.evaluate("127.0.0.1:8001", set(), _identities(1, 1), "m")]),
    "check.conservation": Ways(
        passes=lambda kind: [kind.evaluate(_conserved(259, 259), _conserved_count(259))],
        fails=lambda kind: [kind.evaluate(_conserved(259, 259), _conserved_count(69)),
                            kind.evaluate(_conserved(259, 259), _conserved_count(518))],
        empty=lambda kind: [kind.evaluate(_conserved(259, 259), "no series scraped from the target"),
                            kind.evaluate(_conserved(0, 0), _conserved_count(0))],
        feature_off=NO_FEATURE + "every catalog declares authorizations_total; a catalog without the counter reads "
                                 "not measured (the empty way)",
        skipped=NO_SKIP + "a shared target makes it one-sided, never skipped: every run that sends traffic reconciles"),
    "canary.verdict": Ways(
        passes=lambda kind: [kind.evaluate([_metric()], [_duplicates()])],
        fails=lambda kind: [kind.evaluate([_metric()], [_duplicates(FAIL)])],
        empty=lambda kind: [kind.evaluate([], [], []), kind.evaluate([], [
            _duplicates(NOT_MEASURED, "not measured: nothing")])],
        feature_off=_canary_feature_off, skipped=_canary_skipped),
    "check.readiness": Ways(
        passes=lambda kind, catalog: _readiness_of(catalog, AlertKey.DUPLICATE_CHARGE_DETECTED, [
            _drilled(catalog, AlertKey.DUPLICATE_CHARGE_DETECTED, 1)]),
        fails=lambda kind, catalog: _readiness_of(catalog, AlertKey.DUPLICATE_CHARGE_DETECTED, [
            _drilled(catalog, AlertKey.DUPLICATE_CHARGE_DETECTED, 200)]),
        empty=lambda kind, catalog: [a.check for a in kind.evaluate(catalog, [], _root(), 0.0)],
        feature_off=_readiness_feature_off, skipped=_readiness_skipped),
    "check.classification": Ways(
        passes=_classify(duration_s=600.0, affected=0.0), fails=_classify(
            duration_s=2 * DAY, affected=300_000.0, transactions=400_000.0, daily_transactions=1_000_000.0),
        empty=_classification_empty,
        feature_off=NO_FEATURE + "DORA's business services are a catalog section (business_services, dora)",
        skipped=_classification_skipped),
}


def _root():
    from tests.conftest import ROOT

    return ROOT


def _empty_step_gates():
    from moneypath.loadtest.command.gates import Gate

    return [Gate("p99_latency_prometheus", "p99", "prometheus", NOT_MEASURED, "no data", "<= 300 ms", "nothing")]


def _heartbeat(*values: float):
    """An instant query answering the detector's heartbeat with these last-run times (none: no series)."""
    return lambda query, at: [{"metric": {}, "value": [at, str(v)]} for v in values]


WAYS["check.detector_seen_running"] = Ways(
    passes=lambda kind, catalog: [kind.evaluate(catalog, _heartbeat(1_050.0), "duplicates", 1_000.0, 1_120.0)],
    fails=NO_FAIL + "a detector not seen running is not measured, never a failure: the figure it vouches for is "
                    "judged by the check that reads it",
    empty=lambda kind, catalog: [kind.evaluate(catalog, _heartbeat(), "duplicates", 1_000.0, 1_120.0),
                                 kind.evaluate(catalog, _heartbeat(900.0), "duplicates", 1_000.0, 1_120.0)],
    feature_off=lambda kind: [kind.evaluate(without("reconciliation"), _heartbeat(1_050.0), "reconciliation",
                                            1_000.0, 1_120.0)],
    skipped=NO_SKIP + "it has no configuration of its own: the scenario or drill skips the gate or check that reads "
                      "the zero")

XFAIL: dict = {}  # the (d) cases that fail for a known defect, strict so that the fix shows
