"""Whether a drill's scenario stayed within the impact tolerances of the business service it exercises (the drill
file's `business_service`), and the DORA classification the scenario would have had, both from the drill's own
load: the journal's `impact` part.

Disruption: from the first to the last payment the fault touched (moneypath.drills.money.affected_payments),
in real time (drill seconds × the target's time factor: a 30 s fault on the local stack, rules 60x faster,
stands for 30 minutes). Value held up: the amounts of those payments per currency, against the tolerance in
that currency (a currency without one is not measured). Classification: the affected payments, compared with
a day of the drill's own traffic (its rate over a real day), the disruption as duration and downtime; clients
and what only a person judges are not measured, so a scenario short of two thresholds reads "not measured",
never "not major" (unless its service is not critical).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from moneypath._common.timefactor import TimeFactor
from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Check, Outcome, Verdict, register
from moneypath.catalog import Catalog
from moneypath.check.classification import DAY, Measures, classify
from moneypath.drills.baseline_load import PaymentOutcome
from moneypath.drills.journal import Impact, JudgedTolerance
from moneypath.drills.report.formatting import fmt_duration as format_duration


@dataclass(frozen=True)
class DrillTraffic:
    """A drill's own load as delivered: its payments, over `run_s` drill seconds, each standing for `factor` real
    seconds; `amounts_known` False when the target prices its payments (the drill has no load.amounts)."""

    outcomes: list[PaymentOutcome]
    run_s: float
    factor: float
    amounts_known: bool = True


def _affected(outcomes: Iterable[PaymentOutcome], start: float, end: float) -> list[PaymentOutcome]:
    return [o for o in outcomes if start <= o.t <= end and (o.failed or o.flagged)]


PRICED_BY_TARGET = ("not measured: the target prices its payments (the drill has no load.amounts), so the drill "
                    "does not know their value")


def tolerances(catalog: Catalog, service: str, affected: list[PaymentOutcome], factor: float,
               why_not: str | None = None, amounts_known: bool = True) -> list[JudgedTolerance]:
    """The service's tolerances judged on the affected payments; `why_not`: nothing to judge (no fault ran, no
    payment was sent), each tolerance not measured with that reason; amounts_known False: the value held up is
    not measured."""
    svc = catalog.business_services[service]
    limit_s = svc.disruption_s
    if why_not is not None:
        why = why_not
        return [JudgedTolerance(name="disruption", limit=svc.tolerance.disruption, measured="—", status=NOT_MEASURED,
                                reason=why),
                JudgedTolerance(name="value_held_up", limit=_limits(catalog, svc.tolerance.value_held_up), measured="—",
                                status=NOT_MEASURED, reason=why)]
    span = TimeFactor(factor).real(max(o.finished or o.t for o in affected) - min(o.t for o in affected)) \
        if affected else 0.0
    out = [JudgedTolerance(name="disruption", limit=svc.tolerance.disruption, measured=format_duration(span),
                           status=PASS if span <= limit_s else FAIL,
                           reason=(f"{len(affected)} payment(s) affected over {format_duration(span)} of real time "
                                   f"(drill time × {factor:g}); tolerance {svc.tolerance.disruption}"))]
    if not amounts_known:
        out.append(JudgedTolerance(name="value_held_up", limit=_limits(catalog, svc.tolerance.value_held_up), measured="—",
                                   status=NOT_MEASURED, reason=PRICED_BY_TARGET))
        return out
    held: dict[str, int] = defaultdict(int)
    for o in affected:
        held[o.currency] += o.amount_minor
    parts, checks = [], []  # one check per currency held up
    for cur, minor in sorted(held.items()):
        major = svc.tolerance.value_held_up.get(cur)
        if major is None:
            checks.append(Check(name=cur, outcome=NOT_MEASURED))
            parts.append(f"{catalog.money(minor, cur)} (no tolerance in {cur}: not measured)")
            continue
        limit = round(major * 10 ** catalog.exponent(cur))
        checks.append(Check.judged(cur, minor <= limit))
        parts.append(f"{catalog.money(minor, cur)} of {catalog.money(limit, cur)}")
    status = Verdict(tuple(checks)).outcome if checks else PASS
    out.append(JudgedTolerance(name="value_held_up", limit=_limits(catalog, svc.tolerance.value_held_up),
                               measured="; ".join(parts) or "nothing held up", status=status,
                               reason="; ".join(parts) or "no payment held up"))
    return out


def _limits(catalog: Catalog, amounts: dict[str, float]) -> str:
    return ", ".join(catalog.money(round(v * 10 ** catalog.exponent(c)), c) for c, v in amounts.items()) or "none"


def within(tols: list[JudgedTolerance]) -> Outcome:
    """pass when every tolerance held, fail when one was exceeded, else not measured."""
    return Verdict(tuple(t.check for t in tols)).outcome


register("drills.tolerance", within)


def scenario_measures(catalog: Catalog, service: str, traffic: DrillTraffic, affected: list[PaymentOutcome],
                      span_s: float) -> Measures:
    """The figures the scenario gives DORA's criteria: its affected payments against a real day of its traffic."""
    outcomes = traffic.outcomes
    svc = catalog.business_services[service]
    m = Measures(service=service, critical=svc.critical, duration_s=span_s)
    m.affected = float(len(affected))
    real_run = traffic.run_s * traffic.factor
    if outcomes and real_run > 0:
        m.daily_transactions = len(outcomes) * DAY / real_run
        value: dict[str, float] = defaultdict(float)
        for o in outcomes:
            value[o.currency] += o.amount_minor
        m.daily_value = {c: v * DAY / real_run for c, v in value.items()}
        hit: dict[str, float] = defaultdict(float)
        for o in affected:
            hit[o.currency] += o.amount_minor
        m.affected_value = dict(hit)
        if not traffic.amounts_known:
            m.daily_value, m.affected_value = None, None
            m.why["value"] = "value: " + PRICED_BY_TARGET
    else:
        m.why["daily_transactions"] = "daily average: not measured: the drill sent no payment"
        m.why["value"] = "value: not measured: the drill sent no payment"
    m.downtime_s = span_s
    m.queries = {"affected": "the drill's own payments (money.affected_payments)"}
    m.why["clients"] = "clients affected: not measured: a drill's load has no clients to count"
    return m


def impact(catalog: Catalog, service: str | None, traffic: DrillTraffic, injected: float | None,
           end: float | None) -> Impact:
    """The journal's impact part: the payments the fault touched between `injected` and `end`."""
    outcomes, factor = traffic.outcomes, traffic.factor
    if service is None:
        return Impact(service=None, within_tolerance=NOT_MEASURED,
                      reason="not measured: the drill file names no business_service, so no tolerance applies")
    if service not in catalog.business_services:
        return Impact(service=service, within_tolerance=NOT_MEASURED,
                      reason=f"not measured: {service!r} is not in the catalog's business_services")
    # no fault, or no payment to be disrupted: "0 affected" would be a pass (and "not major") on nothing
    why_not = ("not measured: no fault was injected (nothing disrupted the service to judge)"
               if injected is None or end is None else
               "not measured: the drill sent no payment (nothing to judge the tolerances on)" if not outcomes else None)
    affected = _affected(outcomes, injected, end) if why_not is None else []
    tols = tolerances(catalog, service, affected, factor, why_not, traffic.amounts_known)
    result = within(tols)
    classification = None
    if why_not is None:
        span = ((max(o.finished or o.t for o in affected) - min(o.t for o in affected)) * factor) if affected else 0.0
        classification = classify(scenario_measures(catalog, service, traffic, affected, span),
                                  catalog.dora.thresholds).to_dict()
    beyond = [t.name.replace("_", " ") for t in tols if t.status == FAIL]
    reason = (f"beyond tolerance: {', '.join(beyond)}" if beyond else
              "within every tolerance" if result == PASS else
              "; ".join(t.reason for t in tols if t.status == NOT_MEASURED))
    return Impact(service=service, within_tolerance=result, reason=reason, tolerances=tols,
                  classification=classification, real_time_factor=factor)
