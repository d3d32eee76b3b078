"""Catalog → Prometheus recording rules, SLO burn-rate alerts and business alerts.

Reads only the catalog. SLOs follow the SRE Workbook's multi-window, multi-burn-rate
scheme (as Sloth and Pyrra compile it): error ratios recorded per window as
`slo:sli_error:ratio_rate<window>{slo="…"}`, one alert rule per window pair. Business
alert shapes live here, one builder per built-in alert; their thresholds come from the
catalog. An alert with its own `expr:` (a team's custom alert, or a built-in overridden)
is emitted as written. A disabled feature's recording rules are not generated at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.utils import floatToGoString

from moneypath.catalog import Alert, Catalog, Selector, Slo
from moneypath.catalog.conventions import (
    APPROVAL_BASELINE_WINDOW,
    APPROVAL_RECENT_WINDOW,
    BURN_RATE_PAIRS,
    INCIDENT_LABEL,
    INCIDENT_METRICS,
    MIN_EVENTS_DEFAULTS,
    PROVIDER_FAILURE_OUTCOMES,
    REPORT_LABEL,
    SLI_WINDOWS,
    SLO_BUDGET_RECORD,
    SLO_BUDGET_REMAINING_RECORD,
    SLO_OBJECTIVE_RECORD,
    WATCHDOG_ALERT,
    WATCHDOG_SEVERITY,
    AlertKey,
    Key,
    sli_error_record,
    sli_events_record,
    slo_alert_key,
)
from moneypath.generate.compress import format_duration
from moneypath.generate.readiness_rules import GROUP as READINESS_GROUP
from moneypath.generate.readiness_rules import readiness_rules
from moneypath.generate.rule_text import annotations, num

LATENCY_QUANTILES = (0.5, 0.95, 0.99)


def pct(x: float) -> str:
    return f"{num(x * 100)}%"


def cost_per_authorization_record(c: Catalog) -> str:
    return f":{c.metric(Key.COST_USD_TOTAL).removesuffix('_total')}_per_authorization:rate15m"


# ---------------------------------------------------------------- helpers


def _matchers(selector: Selector, extra: str = "") -> str:
    parts = [f'{m.label}{m.op}"{m.value}"' for m in selector.matchers]
    if extra:
        parts.append(extra)
    return "{" + ", ".join(parts) + "}" if parts else ""


def across(c: Catalog, key: str, expr: str = "", by: str = "") -> str:
    """A signal's instances as one value per `by` group, combined as the catalog says (`Signal.across_instances`):
    max for one shared thing every instance reports, sum for shares; `expr` wraps the metric (default: itself)."""
    op, expr = c.signals[key].across_instances, expr or c.metric(key)
    return f"{op} by ({by}) ({expr})" if by else f"{op}({expr})"


def _counter(c: Catalog, selector: Selector) -> str:
    return c.metric(selector.signal) + _matchers(selector)


def sli_error_expr(c: Catalog, slo: Slo, window: str) -> str:
    """Error ratio of an SLO over a window: 1 - good/total, from counters or histogram buckets."""
    return f"1 - ({sli_good_ratio_expr(c, slo, window)})"


def sli_good_ratio_expr(c: Catalog, slo: Slo, window: str) -> str:
    """Good events over all events of an SLO over a window; no value at all (not NaN) for a window
    without events, so a quiet window neither flaps an alert nor blanks a dashboard with NaN."""
    lat = slo.sli.latency
    if lat is not None:
        hist = c.metric(lat.signal)
        le = floatToGoString(lat.under)
        good = f'sum(rate({hist}_bucket{{le="{le}"}}[{window}]))'
    else:
        good = f"sum(rate({_counter(c, slo.good)}[{window}]))"
    return f"{good} / ({_sli_total(c, slo, 'rate', window)} > 0)"


def _sli_total(c: Catalog, slo: Slo, func: str, window: str) -> str:
    lat = slo.sli.latency
    series = f"{c.metric(lat.signal)}_count" if lat is not None else _counter(c, slo.total)
    return f"sum({func}({series}[{window}]))"


# ---------------------------------------------------------------- recording rules


def approval_grouping(c: Catalog) -> tuple[str, ...]:
    """What an approval share is kept per: provider, and payment method where the catalog labels it."""
    return tuple(label for label in ("provider", "method") if label in c.signals[Key.AUTHORIZATIONS_TOTAL].labels)


def approval_records(c: Catalog) -> dict[str, str]:
    """Names of the approval-share records: recent, baseline and recent answers (approved + declined)."""
    level = "_".join(approval_grouping(c)) or ""
    base = c.metric(Key.AUTHORIZATIONS_TOTAL).removesuffix("_total")
    return {"recent": f"{level}:{base}:approval_ratio_rate{APPROVAL_RECENT_WINDOW}",
            "baseline": f"{level}:{base}:approval_ratio_rate{APPROVAL_BASELINE_WINDOW}",
            "answers": f"{level}:{base}:answers_increase{APPROVAL_RECENT_WINDOW}"}


def _approval_rules(c: Catalog) -> list[dict]:
    """Approved over answered (approved + declined): an error or timeout is the availability SLO's business,
    so a provider outage does not read as issuers declining, and fraud declines never reach a provider."""
    auth = c.metric(Key.AUTHORIZATIONS_TOTAL)
    by = ", ".join(approval_grouping(c))
    answered = f'{auth}{{outcome=~"approved|declined"}}'
    names = approval_records(c)
    rules = [{"record": names[which],
              "expr": f'sum by ({by}) (rate({auth}{{outcome="approved"}}[{w}]))\n'
                      f"/ (sum by ({by}) (rate({answered}[{w}])) > 0)"}
             for which, w in (("recent", APPROVAL_RECENT_WINDOW), ("baseline", APPROVAL_BASELINE_WINDOW))]
    rules.append({"record": names["answers"],
                  "expr": f"sum by ({by}) (increase({answered}[{APPROVAL_RECENT_WINDOW}]))"})
    return rules


def recording_rules(c: Catalog) -> dict:
    auth_hist = c.metric(Key.AUTHORIZATION_DURATION_SECONDS)
    auth = c.metric(Key.AUTHORIZATIONS_TOTAL)
    requests = c.metric(Key.PROVIDER_REQUESTS_TOTAL)
    base = lambda name: name.removesuffix("_total")  # noqa: E731 - rule names drop _total
    business = [
        *({"record": f"provider:{auth_hist}:p{round(q * 100)}_rate5m",
           "expr": f"histogram_quantile({q}, sum by (le, provider) (rate({auth_hist}_bucket[5m])))"}
          for q in LATENCY_QUANTILES),
        *({"record": f":{auth_hist}:p{round(q * 100)}_rate5m",
           "expr": f"histogram_quantile({q}, sum by (le) (rate({auth_hist}_bucket[5m])))"}
          for q in LATENCY_QUANTILES),
        {"record": f"provider:{base(auth)}:rate5m", "expr": f"sum by (provider) (rate({auth}[5m]))"},
        {"record": f"provider:{base(auth)}:approved_ratio_rate5m",
         "expr": f'sum by (provider) (rate({auth}{{outcome="approved"}}[5m])) / sum by (provider) (rate({auth}[5m]))'},
        {"record": f"provider:{base(requests)}:error_ratio_rate5m",
         "expr": f'sum by (provider) (rate({requests}{{outcome=~"error|timeout"}}[5m]))'
                 f" / sum by (provider) (rate({requests}[5m]))"},
    ]
    if c.has(Key.LEDGER_WRITES_TOTAL):
        ledger = c.metric(Key.LEDGER_WRITES_TOTAL)
        business += [{"record": f":{base(ledger)}:committed_ratio_rate5m",
                      "expr": f'sum(rate({ledger}{{outcome="committed"}}[5m])) / sum(rate({ledger}[5m]))'},
                     {"record": f":{base(ledger)}:failed_ratio_rate5m",
                      "expr": f'sum(rate({ledger}{{outcome="failed"}}[5m])) / sum(rate({ledger}[5m]))'}]
    business += _approval_rules(c)
    if c.has(Key.COST_USD_TOTAL):
        cost = c.metric(Key.COST_USD_TOTAL)
        # "> 0" keeps a quiet quarter-hour from recording +Inf, which would sit in the
        # regression alert's 7-day average for a week and silence it.
        business.append({"record": cost_per_authorization_record(c),
                         "expr": f"sum(rate({cost}[15m])) / (sum(rate({auth}[15m])) > 0)"})
    if c.has(Key.FRAUD_DECISIONS_TOTAL):
        fraud = c.metric(Key.FRAUD_DECISIONS_TOTAL)
        business += [{"record": f":{base(fraud)}:decline_ratio_rate{w}",
                      "expr": f'sum(rate({fraud}{{decision="decline"}}[{w}])) / sum(rate({fraud}[{w}]))'}
                     for w in ("15m", "1d")]
    slo_rules = []
    for key, slo in c.slos.items():
        labels = {"slo": key}
        for window in SLI_WINDOWS:
            slo_rules.append({"record": sli_error_record(window), "expr": sli_error_expr(c, slo, window),
                              "labels": labels})
            slo_rules.append({"record": sli_events_record(window), "expr": _sli_total(c, slo, "increase", window),
                              "labels": labels})
        if slo.window not in SLI_WINDOWS:
            # From the counters over the whole window: weighted by traffic, and a quiet
            # five minutes (0/0) cannot turn a month of budget into NaN.
            slo_rules.append({"record": sli_error_record(slo.window),
                              "expr": sli_error_expr(c, slo, slo.window), "labels": labels})
        slo_rules += [
            {"record": SLO_OBJECTIVE_RECORD, "expr": f"vector({slo.objective / 100:.6g})", "labels": labels},
            {"record": SLO_BUDGET_RECORD, "expr": f"vector({slo.error_budget:.6g})", "labels": labels},
            {"record": SLO_BUDGET_REMAINING_RECORD,
             "expr": f'1 - {sli_error_record(slo.window)}{{slo="{key}"}} / {slo.error_budget:.6g}',
             "labels": labels},
        ]
    return {"groups": [{"name": "moneypath-business-recording", "rules": business},
                       {"name": "moneypath-slo-recording", "rules": slo_rules}]}


# ---------------------------------------------------------------- SLO alerts


def slo_burn_expr(key: str, slo: Slo, long_w: str, short_w: str, factor: float) -> str:
    """Both windows burn faster than `factor` (SRE Workbook), with two guards of our own:
    - low traffic: the long window holds at least `min_events` events, so 3 failures out of 5
      requests at night do not page (the availability of a quiet hour is not significant);
    - no flapping on silence: a short window without any event keeps the verdict of the long
      window (a quiet 5 minutes in an outage is not a recovery; traffic that succeeds again is)."""
    threshold = f"{factor * slo.error_budget:.6g}"
    sel = f'{{slo="{key}"}}'
    expr = (f"{sli_error_record(long_w)}{sel} > {threshold}\n"
            f"and\n({sli_error_record(short_w)}{sel} > {threshold} or {sli_events_record(short_w)}{sel} == 0)")
    if slo.min_events > 0:
        expr += f"\nand\n{sli_events_record(long_w)}{sel} >= {slo.min_events}"
    return expr


def slo_alert_rules(c: Catalog) -> list[dict]:
    rules = []
    for key, slo in c.slos.items():
        alert_key = slo_alert_key(key)
        for severity, long_w, short_w, factor in BURN_RATE_PAIRS:
            rules.append({
                "alert": c.alert_name(alert_key),
                "expr": slo_burn_expr(key, slo, long_w, short_w, factor),
                "labels": {"severity": severity, "slo": key, "long_window": long_w, "short_window": short_w},
                "annotations": annotations(
                    c, alert_key,
                    f"{key}: error budget burning at {factor:g}x over {long_w} and {short_w}.",
                    f"{slo.description} The error ratio over {long_w} is "
                    "{{ $value | humanizePercentage }}" + f" against a budget of {slo.error_budget * 100:g}%"
                    f" ({slo.objective}% over {slo.window}). At {factor:g}x the whole budget is gone in "
                    f"{_budget_exhaustion(slo.window, factor)}."),
            })
    return rules


def _budget_exhaustion(window: str, factor: float) -> str:
    days = int(window.rstrip("d")) if window.endswith("d") else None
    if days is None:
        return f"{window} / {factor:g}"
    hours = days * 24 / factor
    return f"{hours:.0f} hours" if hours < 72 else f"{hours / 24:.0f} days"


# ---------------------------------------------------------------- business alerts


@dataclass(frozen=True)
class Shape:
    expr: str
    description: str
    labels: tuple[tuple[str, str], ...] = ()  # tells apart several rules of one alert


def min_events(a: Alert, key: str) -> int:
    return a.min_events if a.min_events is not None else MIN_EVENTS_DEFAULTS[key]


def _ledger_imbalance(c: Catalog, a: Alert) -> Shape:
    m = c.metric(Key.LEDGER_IMBALANCE_MINOR)
    return Shape(f"{across(c, Key.LEDGER_IMBALANCE_MINOR, f'abs({m})', 'currency')} > {num(a.threshold)}",
                 "Ledger postings in {{ $labels.currency }} sum to {{ $value }} minor units instead of 0: "
                 "money was created or destroyed. Stop writes that do not balance and find the entry.")


def _ledger_write_failures(c: Catalog, a: Alert) -> Shape:
    m = c.metric(Key.LEDGER_WRITES_TOTAL)
    return Shape(f'sum(rate({m}{{outcome="failed"}}[5m])) / sum(rate({m}[5m])) > {num(a.threshold)}',
                 "{{ $value | humanizePercentage }} of ledger writes failed over 5 minutes "
                 f"(threshold {pct(a.threshold)}). Payments may be approved at the provider but not booked.")


def _duplicate_charge(c: Catalog, a: Alert) -> Shape:
    m = c.metric(Key.DUPLICATE_CHARGES_TOTAL)
    return Shape(f"sum by (provider) (increase({m}[10m])) > {num(a.threshold)}",
                 "{{ $value | printf \"%.0f\" }} duplicate charge(s) at {{ $labels.provider }} in the last 10 minutes. "
                 "Customers were charged twice; refund and notify.")


def _reconciliation_lag(c: Catalog, a: Alert) -> Shape:
    age = across(c, Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS, by="provider")
    last = across(c, Key.RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS, by="provider")
    return Shape(f"{age} > {num(a.threshold)}\nor\ntime() - {last} > {num(a.threshold)}",
                 "Reconciliation with {{ $labels.provider }} is {{ $value | humanizeDuration }} behind "
                 f"(threshold {num(a.threshold)} s): settlement drift would go unnoticed.")


def _settlement_mismatch(c: Catalog, a: Alert) -> Shape:
    m = c.metric(Key.RECONCILIATION_MISMATCHES_TOTAL)
    return Shape(f"sum by (provider, mismatch_kind) (increase({m}[15m])) > {num(a.threshold)}",
                 "{{ $value | printf \"%.0f\" }} settlement mismatch(es) of kind {{ $labels.mismatch_kind }} with "
                 "{{ $labels.provider }} in the last 15 minutes.")


def _dead_letters(c: Catalog, a: Alert) -> Shape:
    m = c.metric(Key.DEAD_LETTERS_TOTAL)
    return Shape(f"sum by (queue) (increase({m}[10m])) > {num(a.threshold)}",
                 "{{ $value | printf \"%.0f\" }} message(s) dead-lettered on {{ $labels.queue }} in 10 minutes; "
                 "notifications or compliance records are not being delivered.")


def provider_failures(c: Catalog) -> str:
    """The failed outcomes of a provider call the catalog declares, as a regex alternation (circuit_open only
    while the service has a breaker: a service without one never records it)."""
    declared = c.signals[Key.PROVIDER_REQUESTS_TOTAL].labels["outcome"]
    return "|".join(o for o in PROVIDER_FAILURE_OUTCOMES if o in declared)


def _provider_outage(c: Catalog, a: Alert) -> list[Shape]:
    requests = c.metric(Key.PROVIDER_REQUESTS_TOTAL)
    breaker = c.has(Key.PROVIDER_CIRCUIT_STATE)
    shapes = [
        # A call refused by an open circuit failed too, from the payment's point of view.
        # At least min_events calls in the 5 minutes: one failed call out of one at night is not an outage.
        Shape(f'sum by (provider) (rate({requests}{{outcome=~"{provider_failures(c)}"}}[5m]))\n'
              f"/ sum by (provider) (rate({requests}[5m])) > {num(a.threshold)}\n"
              f"and\nsum by (provider) (increase({requests}[5m])) >= {min_events(a, AlertKey.PROVIDER_PARTIAL_OUTAGE)}",
              "{{ $value | humanizePercentage }} of calls to {{ $labels.provider }} failed"
              + (", timed out or were refused by the circuit breaker" if breaker else " or timed out")
              + f" over 5 minutes (threshold {pct(a.threshold)}). Payments routed there are failing.",
              (("reason", "error_ratio"),)),
    ]
    if breaker:  # the feature `breaker`: a service without one can never fire this half
        closed = (c.signals[Key.PROVIDER_CIRCUIT_STATE].enum or {})["closed"]
        # Half-open is still "not trusted": it only lasts for one trial call between open periods.
        shapes.append(Shape(f"{across(c, Key.PROVIDER_CIRCUIT_STATE, by='provider')} > {closed}",
                            "The circuit breaker for {{ $labels.provider }} is not closed: calls are refused or on "
                            "trial.", (("reason", "circuit_open"),)))
    return shapes


def _approval_rate_drop(c: Catalog, a: Alert) -> Shape:
    names = approval_records(c)
    minimum = min_events(a, AlertKey.APPROVAL_RATE_DROP)
    where = " ({{ $labels.method }})" if "method" in approval_grouping(c) else ""
    return Shape(f"{names['recent']}\n< {num(1 - a.threshold)} * {names['baseline']}\n"
                 f"and\n{names['answers']} >= {minimum}",
                 "{{ $labels.provider }}" + where + " approved {{ $value | humanizePercentage }} of the payments it "
                 f"answered over {APPROVAL_RECENT_WINDOW}, more than {pct(a.threshold)} below its share over the last "
                 f"{APPROVAL_BASELINE_WINDOW} (at least {minimum} answers). Declines count as answers, so the "
                 "availability SLO does not see this: customers are being turned away.")


def _fraud_spike(c: Catalog, a: Alert) -> Shape:
    m = c.metric(Key.FRAUD_DECISIONS_TOTAL)
    recent = f'sum(rate({m}{{decision="decline"}}[15m])) / sum(rate({m}[15m]))'
    baseline = f'sum(rate({m}{{decision="decline"}}[1d])) / sum(rate({m}[1d]))'
    # A floor of 1 % keeps a zero baseline from turning the first decline into a page.
    return Shape(f"{recent}\n> {num(a.threshold)} * ({baseline})\nand\n{recent} > 0.01",
                 "Fraud declines are {{ $value | humanizePercentage }} of decisions over 15 minutes, more than "
                 f"{num(a.threshold)}x their 1-day rate: an attack, or a broken risk model declining good customers.")


def _cost_regression(c: Catalog, a: Alert) -> Shape:
    per_tx = cost_per_authorization_record(c)
    return Shape(f"{per_tx}\n> {num(a.threshold)} * avg_over_time({per_tx}[7d])",
                 "Cost per authorization is ${{ $value | printf \"%.4f\" }}, more than "
                 f"{num(a.threshold)}x its 7-day average.")


def _authorizations_silent(c: Catalog, a: Alert) -> Shape:
    m = c.metric(Key.AUTHORIZATIONS_TOTAL)
    expected = min_events(a, AlertKey.AUTHORIZATIONS_SILENT)
    # Silent only where traffic was expected: the same 5 minutes a day ago held min_events authorizations
    # (a quiet night, or traffic falling off at 01:00 as it did yesterday, is not an outage). Without data
    # from a day ago (a new service), the 10 minutes before these 5 did.
    return Shape(f"sum(rate({m}[5m])) <= {num(a.threshold)}\n"
                 f"and\n(\n  sum(increase({m}[5m] offset 1d)) >= {expected}\n  or\n"
                 f"  (sum(increase({m}[10m] offset 5m)) >= {expected} and on() absent_over_time({m}[5m] offset 1d))"
                 "\n)\n"
                 f"or\nabsent({m})",
                 "No authorizations recorded for 5 minutes, or the money path's metrics are missing: "
                 "either nobody can pay, or we cannot see them paying.")


def _audit_chain_broken(c: Catalog, a: Alert) -> Shape:
    return Shape(f"{across(c, Key.AUDIT_CHAIN_BROKEN)} > {num(a.threshold)}",
                 "The audit trail's hash chain no longer verifies: an event recording a change to a payment or "
                 "payout was edited or deleted after it was written. Who changed what can no longer be proven; "
                 "`moneypath audit verify` names the first broken event.")


def _audit_checkpoint_stale(c: Catalog, a: Alert) -> Shape:
    checkpoint, head = c.metric(Key.AUDIT_CHECKPOINT_SEQ), c.metric(Key.AUDIT_HEAD_SEQ)
    wait = format_duration(a.threshold or 0)
    # The newest checkpoint does not reach the head as it was `wait` ago: an event appended that long ago is still
    # unsigned. It cannot fire on an idle service: its head stops moving, the next checkpoint signs it, and from
    # then on the checkpoint equals the head. Nor on a Prometheus younger than `wait` (no head from then), after a
    # service restart (it resumes at its newest checkpoint and signs the head at its first check), while the chain
    # is broken (the head gauge moves on intact checks only: AuditChainBroken pages for that), or for a service
    # without checkpoints (it sets neither gauge: both stay 0). max(): instances on one database share one chain,
    # and whichever signs a head first covers it for all.
    return Shape(f"max({checkpoint}) < max({head} offset {wait})",
                 "The newest signed checkpoint of the audit trail covers seq {{ $value | printf \"%.0f\" }}, but "
                 f"events appended more than {wait} ago lie beyond it: the service stopped signing (checkpoint "
                 "directory unwritable or full, or a checkpoint there that contradicts the chain; see its log). "
                 "Until it signs again, the newest events can be rewritten without `moneypath audit verify "
                 "--checkpoints` noticing.")


def _load_shedding(c: Catalog, a: Alert) -> Shape:
    shed, served = c.metric(Key.REQUESTS_SHED_TOTAL), c.metric(Key.HTTP_REQUESTS_TOTAL)
    # Refusals are answered requests too (503), so the ratio is the share of all requests refused.
    return Shape(f"sum(rate({shed}[5m])) / sum(rate({served}[5m])) > {num(a.threshold)}",
                 "{{ $value | humanizePercentage }} of requests were refused over 5 minutes (threshold "
                 f"{pct(a.threshold)}): more demand than the service carries, or a release that costs more per "
                 "request. Customers see 503 and retry; the SLOs do not count a refused payment.")


def _incident_report_due(c: Catalog, a: Alert) -> Shape:
    deadline = f"{c.namespace}_{INCIDENT_METRICS['deadline']}"
    # The exporter (`moneypath incident clock serve`) shows a deadline only while its report is due and not
    # submitted, and nothing for a closed incident: the ticket stops when the report is recorded.
    return Shape(f"min by ({INCIDENT_LABEL}, {REPORT_LABEL}) ({deadline} - time()) < {num(a.threshold)}",
                 f"The DORA {{{{ $labels.{REPORT_LABEL} }}}} report of incident {{{{ $labels.{INCIDENT_LABEL} }}}} "
                 "is due in {{ $value | humanizeDuration }} (negative: overdue; ticket from "
                 f"{format_duration(a.threshold or 0)} before). Submit it, or tell the competent authority before the "
                 "deadline why it will be late (RTS 2025/301 Art. 5); then `moneypath incident clock report`.")


SHAPES: dict[str, Callable[[Catalog, Alert], Shape | list[Shape]]] = {
    AlertKey.LEDGER_IMBALANCE: _ledger_imbalance,
    AlertKey.LEDGER_WRITE_FAILURES: _ledger_write_failures,
    AlertKey.DUPLICATE_CHARGE_DETECTED: _duplicate_charge,
    AlertKey.RECONCILIATION_LAG_HIGH: _reconciliation_lag,
    AlertKey.SETTLEMENT_MISMATCH: _settlement_mismatch,
    AlertKey.DEAD_LETTERS_GROWING: _dead_letters,
    AlertKey.PROVIDER_PARTIAL_OUTAGE: _provider_outage,
    AlertKey.APPROVAL_RATE_DROP: _approval_rate_drop,
    AlertKey.FRAUD_SPIKE: _fraud_spike,
    AlertKey.COST_PER_TRANSACTION_REGRESSION: _cost_regression,
    AlertKey.AUTHORIZATIONS_SILENT: _authorizations_silent,
    AlertKey.AUDIT_CHAIN_BROKEN: _audit_chain_broken,
    AlertKey.AUDIT_CHECKPOINT_STALE: _audit_checkpoint_stale,
    AlertKey.LOAD_SHEDDING: _load_shedding,
    AlertKey.INCIDENT_REPORT_DUE: _incident_report_due,
}


def alert_shapes(c: Catalog, key: str, alert: Alert) -> list[Shape]:
    """The rules of one catalog alert: its own expr as written, else its built-in shape (validation
    guarantees one of the two). A description in the catalog replaces the built-in one; a custom
    alert without one repeats its summary."""
    if alert.expr is not None:
        return [Shape(alert.expr.strip(), alert.description or alert.summary)]
    shapes = SHAPES[key](c, alert)
    shapes = shapes if isinstance(shapes, list) else [shapes]
    if alert.description is not None:
        shapes = [Shape(shape.expr, alert.description, shape.labels) for shape in shapes]
    return shapes


def business_alert_rules(c: Catalog) -> list[dict]:
    rules = []
    for key, alert in c.alerts.items():
        for shape in alert_shapes(c, key, alert):
            labels = {"severity": alert.severity, **dict(shape.labels)}
            if alert.money_loss:
                labels["money_loss"] = "true"
            rule = {"alert": c.alert_name(key), "expr": shape.expr}
            if alert.for_ not in ("0s", "0m"):
                rule["for"] = alert.for_
            rule["labels"] = labels
            rule["annotations"] = annotations(c, key, alert.summary, shape.description)
            rules.append(rule)
    return rules


def watchdog_rule(c: Catalog) -> dict:
    """Always firing: while it reaches the dead man's switch, Prometheus evaluates rules and Alertmanager
    delivers; when it stops, the switch pages from outside."""
    return {"alert": c.alert_name(WATCHDOG_ALERT), "expr": "vector(1)", "labels": {"severity": WATCHDOG_SEVERITY},
            "annotations": annotations(
                c, WATCHDOG_ALERT, "Heartbeat: Prometheus evaluates the money path's rules and Alertmanager delivers.",
                f"Always firing, sent to {c.watchdog.receiver} every {c.watchdog.repeat_interval}. If it stops "
                "arriving there, nothing else can page either: Prometheus, its rule evaluation, Alertmanager or "
                "the route is down.")}


def alert_rules(c: Catalog) -> dict:
    groups = [{"name": "moneypath-slo-alerts", "rules": slo_alert_rules(c)},
              {"name": "moneypath-business-alerts", "rules": business_alert_rules(c)}]
    if c.watchdog.enabled:
        groups.append({"name": "moneypath-watchdog", "rules": [watchdog_rule(c)]})

    if c.readiness is not None:
        groups.append({"name": READINESS_GROUP, "rules": readiness_rules(c)})
    return {"groups": groups}
