"""Semantic checks of a parsed catalog: expand label references (@providers, @currencies, @signals),
name the signals, and check cross-references and the naming conventions."""

from __future__ import annotations

import re
from typing import Any

from moneypath.catalog import business_services
from moneypath.catalog.canary_policy import canary_problems
from moneypath.catalog.conventions import MIN_EVENTS_DEFAULTS, WATCHDOG_ALERT, AlertKey, Key, slo_alert_key
from moneypath.catalog.currencies import ISO_4217_EXPONENTS
from moneypath.catalog.detectors import detector_problems
from moneypath.catalog.features import BUILTIN_ALERTS, FEATURES, SIGNAL_FEATURE
from moneypath.catalog.matchers import matcher_problem
from moneypath.catalog.model import Catalog, Signal, Slo
from moneypath.catalog.money_path import money_path_problems
from moneypath.catalog.pan import contains_card_number
from moneypath.catalog.readiness_policy import readiness_problems
from moneypath.catalog.receivers import DELIVERY_KINDS
from moneypath.catalog.terms import DURATION, OTHER, parse_selector

_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_SLO_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Label names that would carry personal or card data; the conventions forbid them.
_SENSITIVE_LABEL = re.compile(r"(card_?number|^pan$|account|customer|email|iban|user_?id|phone)", re.IGNORECASE)
# Below this objective a 14.4x burn exceeds an error ratio of 1 and the fast page could never fire.
MIN_OBJECTIVE = 100 - 100 / 14.4
_RESERVED_LABELS = {"le", "quantile", "job", "instance"}
_REFERENCE_SECTIONS = ("providers", "currencies", "signals")
_UNIT_SUFFIX = {"seconds", "bytes", "ratio", "usd", "minor"}




def resolve(c: Catalog) -> list[tuple[tuple, str]]:
    """Expand label references, name signals, and check cross-references and conventions."""
    problems: list[tuple[tuple, str]] = []

    def bad(loc: tuple, msg: str) -> None:
        problems.append((loc, msg))

    if not _IDENT.match(c.namespace):
        bad(("namespace",), "must be lower_snake_case (a metric name prefix)")
    if not _ALERT_NAME.match(c.alert_prefix):
        bad(("alert_prefix",), "must be CamelCase")
    for key in c.providers:
        if not _IDENT.match(key):
            bad(("providers", key), "provider ids must be lower_snake_case")
    for i, cur in enumerate(c.currencies):
        if not _CURRENCY.match(cur):
            bad(("currencies", i), f"{cur!r} is not an ISO 4217 code")
        elif cur not in ISO_4217_EXPONENTS and cur not in c.currency_exponents:
            bad(("currencies", i), f"{cur!r} is not in moneypath's ISO 4217 table; give its minor-unit digits "
                                   f"in currency_exponents (e.g. {{{cur}: 2}})")
    for cur, exp in c.currency_exponents.items():
        if not _CURRENCY.match(cur):
            bad(("currency_exponents", cur), f"{cur!r} is not an ISO 4217 code")
        elif not 0 <= exp <= 4:
            bad(("currency_exponents", cur), "the digits after the decimal point are 0 to 4")
    _check_features(c, bad)
    problems += canary_problems(c)

    sections = {"providers": list(c.providers), "currencies": list(c.currencies), "signals": list(c.signals)}
    for key, sig in c.signals.items():
        loc = ("signals", key)
        sig.key, sig.name = key, f"{c.namespace}_{key}"
        _check_signal_name(sig, loc, bad)
        resolved: dict[str, list[str]] = {}
        for label, values in sig.labels.items():
            lloc = loc + ("labels", label)
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                bad(lloc, "not a valid Prometheus label name")
            elif label in _RESERVED_LABELS:
                bad(lloc, f"'{label}' is reserved by Prometheus")
            elif _SENSITIVE_LABEL.search(label):
                bad(lloc, "labels must never carry card, account or customer data")
            expanded: list[str] = []
            for i, value in enumerate(values):
                if value.startswith("@"):
                    section = value[1:]
                    if section not in _REFERENCE_SECTIONS:
                        bad(lloc + (i,), f"unknown reference {value!r} (use @providers, @currencies or @signals)")
                    else:
                        expanded += sections[section]
                else:
                    expanded.append(value)
            if not expanded:
                bad(lloc, "declare at least one allowed value")
            for value in expanded:
                if value == OTHER:
                    bad(lloc, f"'{OTHER}' is reserved: unknown values are recorded as '{OTHER}' automatically")
                elif contains_card_number(value):
                    bad(lloc, "a value looks like a card number")
                elif not value:
                    bad(lloc, "empty label value")
            if len(set(expanded)) != len(expanded):
                bad(lloc, "duplicate values")
            resolved[label] = expanded
        sig.labels = resolved
        if sig.type == "histogram":
            b = sig.buckets
            if not b:
                bad(loc + ("buckets",), "a histogram needs buckets")
            elif any(x <= 0 for x in b) or any(x >= y for x, y in zip(b, b[1:])):
                bad(loc + ("buckets",), "buckets must be positive and strictly increasing")
        elif sig.buckets is not None:
            bad(loc + ("buckets",), f"only histograms have buckets, this is a {sig.type}")
        if sig.exemplars and sig.type != "histogram":
            bad(loc + ("exemplars",), "exemplars are attached to histograms only")
        if sig.enum is not None and sig.type != "gauge":
            bad(loc + ("enum",), "only gauges encode an enum")

    problems += detector_problems(c)
    for key, slo in c.slos.items():
        _check_slo(c, key, slo, bad)
    if c.alerts.get(AlertKey.APPROVAL_RATE_DROP) and c.alerts[AlertKey.APPROVAL_RATE_DROP].expr is None:
        auth = c.signals.get(Key.AUTHORIZATIONS_TOTAL)
        if auth is not None and not {"approved", "declined"} <= set(auth.labels.get("outcome", ())):
            bad(("signals", Key.AUTHORIZATIONS_TOTAL, "labels", "outcome"),
                f"{AlertKey.APPROVAL_RATE_DROP} needs the outcomes approved and declined (or give the alert its own expr:)")
    stale = c.alerts.get(AlertKey.AUDIT_CHECKPOINT_STALE)
    if stale is not None and stale.expr is None:
        missing = [key for key in (Key.AUDIT_CHECKPOINT_SEQ, Key.AUDIT_HEAD_SEQ) if key not in c.signals]
        if missing:
            bad(("alerts", AlertKey.AUDIT_CHECKPOINT_STALE), f"compares the signals {Key.AUDIT_CHECKPOINT_SEQ} and "
                f"{Key.AUDIT_HEAD_SEQ}; declare {' and '.join(missing)} (a service that signs checkpoints of its "
                "audit trail sets both) or remove the alert")
        if stale.threshold is not None and stale.threshold < 1:
            bad(("alerts", AlertKey.AUDIT_CHECKPOINT_STALE, "threshold"), f"{stale.threshold:g}: the seconds an audit event "
                "may wait for a signed checkpoint, at least 1 (several of the service's checkpoint intervals)")
    slo_alerts = {slo_alert_key(key): key for key in c.slos}
    for key, alert in c.alerts.items():
        if not _ALERT_NAME.match(key):
            bad(("alerts", key), "alert names are CamelCase")
        elif key in slo_alerts:
            bad(("alerts", key), f"the name of SLO {slo_alerts[key]}'s burn-rate alert; choose another")
        if not DURATION.fullmatch(alert.for_):
            bad(("alerts", key, "for"), f"{alert.for_!r} is not a Prometheus duration (e.g. 5m)")
        if key not in BUILTIN_ALERTS and alert.expr is None:
            bad(("alerts", key), "not a built-in alert, so it needs its own expr: (PromQL over the catalog's "
                                 f"signals); built-in: {', '.join(BUILTIN_ALERTS)}")
        elif alert.expr is None and alert.threshold is None:
            bad(("alerts", key), "a built-in alert needs a threshold (or its own expr:)")
        elif alert.expr is not None and alert.threshold is not None:
            bad(("alerts", key, "threshold"), "an alert with its own expr: carries its threshold in the expression")
        if alert.min_events is not None and (key not in MIN_EVENTS_DEFAULTS or alert.expr is not None):
            bad(("alerts", key, "min_events"), f"only {', '.join(MIN_EVENTS_DEFAULTS)} take a minimum volume; an "
                                               "alert with its own expr: carries it in the expression")
        if key == AlertKey.APPROVAL_RATE_DROP and alert.expr is None and alert.threshold is not None \
                and not 0 < alert.threshold < 1:
            bad(("alerts", key, "threshold"), f"{alert.threshold:g} is not a share: the drop relative to the last "
                                              "day's approval share, between 0 and 1 (0.2 pages 20 % below it)")
    if WATCHDOG_ALERT in c.alerts:
        bad(("alerts", WATCHDOG_ALERT), "the name of the generated dead man's switch alert (watchdog:); choose another")
    if not DURATION.fullmatch(c.watchdog.repeat_interval):
        bad(("watchdog", "repeat_interval"), f"{c.watchdog.repeat_interval!r} is not a Prometheus duration (e.g. 1m)")
    if c.watchdog.enabled and c.watchdog.receiver in c.receivers:
        bad(("watchdog", "receiver"), f"{c.watchdog.receiver!r} is a person or team in receivers: the heartbeat "
                                      "arrives every minute; name the dead man's switch on its own (e.g. deadmans-switch)")
    if c.cost is None and c.enabled("cost"):
        bad(("cost",), "the cost feature is on, so the catalog needs a cost: model (or set features.cost: false)")
    for provider in c.cost.provider_fees if c.cost else ():
        if provider not in c.providers:
            bad(("cost", "provider_fees", provider), "not a declared provider")
    for field in ("page", "ticket"):
        if getattr(c.routes, field) not in c.receivers:
            bad(("routes", field), f"receiver {getattr(c.routes, field)!r} is not declared in receivers")
    for i, receiver in enumerate(c.routes.money_loss):
        if receiver not in c.receivers:
            bad(("routes", "money_loss", i), f"receiver {receiver!r} is not declared in receivers")
    for key, role in c.roles.items():
        if role.receiver not in c.receivers:
            bad(("roles", key, "receiver"), f"receiver {role.receiver!r} is not declared in receivers")
    _check_deliveries(c, bad)
    problems += business_services.cross_check(c)
    return problems + readiness_problems(c) + money_path_problems(c)


def _check_deliveries(c: Catalog, bad) -> None:
    """Production deliveries are all or nothing: a receiver left out would be paged nowhere in production."""
    if not c.delivers_in_production:
        return
    kinds = ", ".join(DELIVERY_KINDS)
    for name, receiver in c.receivers.items():
        if not receiver.declared():
            bad(("receivers", name), f"declares no production delivery ({kinds}) while other receivers do: "
                                     "its pages would go nowhere in production")
    if c.watchdog.enabled and c.watchdog.webhook is None:
        bad(("watchdog",), "receivers declare production deliveries, so the dead man's switch needs one too: "
                           "webhook: {url: <its ping URL>} (or url_file)")


def _check_features(c: Catalog, bad) -> None:
    for name in c.features:
        if name not in FEATURES:
            bad(("features", name), f"unknown feature (known: {', '.join(FEATURES)})")
    for key in c.signals:
        feature = SIGNAL_FEATURE.get(key)
        if feature and not c.enabled(feature):
            bad(("signals", key), f"belongs to the {feature} feature, which is off (features.{feature}: false); "
                                  "remove the signal or turn the feature on")
    if c.money_checks.balance is not None and not c.enabled("ledger"):
        bad(("money_checks", "balance"), "sums ledger postings, and the ledger feature is off (features.ledger: "
                                         "false); remove the query or turn the feature on")
    for key, alert in c.alerts.items():
        feature = BUILTIN_ALERTS.get(key)
        if feature and alert.expr is None and not c.enabled(feature):
            bad(("alerts", key), f"a built-in alert of the {feature} feature, which is off (features.{feature}: "
                                 "false); remove the alert or turn the feature on")


def _check_signal_name(sig: Signal, loc: tuple, bad) -> None:
    key = sig.key
    if not _IDENT.match(key):
        bad(loc, "signal keys are lower_snake_case")
        return
    base = key[: -len("_total")] if key.endswith("_total") else key
    if sig.type == "counter" and not key.endswith("_total"):
        bad(loc, "counter names end in _total")
    if sig.type != "counter" and key.endswith("_total"):
        bad(loc, "only counters end in _total")
    if sig.unit is not None:
        if sig.unit not in _UNIT_SUFFIX:
            bad(loc + ("unit",), f"use a base unit: one of {', '.join(sorted(_UNIT_SUFFIX))}")
        elif not base.endswith("_" + sig.unit):
            bad(loc, f"a signal in {sig.unit} must be named *_{sig.unit}{'_total' if sig.type == 'counter' else ''}")


def _check_slo(c: Catalog, key: str, slo: Slo, bad) -> None:
    loc = ("slos", key)
    if not _SLO_NAME.match(key):
        bad(loc, "SLO names are lower-kebab-case")
    if not DURATION.fullmatch(slo.window):
        bad(loc + ("window",), f"{slo.window!r} is not a Prometheus duration (e.g. 30d)")
    if slo.objective < MIN_OBJECTIVE:
        bad(loc + ("objective",), f"below {MIN_OBJECTIVE:.2f} a 14.4x burn rate exceeds 100 % errors, so the fast "
                                  "page could never fire; use a ticket-only alert for such a loose objective")
    sli = slo.sli
    if sli.latency is not None:
        if sli.good or sli.total:
            bad(loc + ("sli",), "use either good/total or latency, not both")
        sig = c.signals.get(sli.latency.signal)
        if sig is None or sig.type != "histogram":
            bad(loc + ("sli", "latency", "signal"), f"{sli.latency.signal!r} is not a histogram signal")
        elif sli.latency.under not in (sig.buckets or ()):
            bad(loc + ("sli", "latency", "under"),
                f"{sli.latency.under} must be one of the bucket boundaries {sig.buckets} to be measured exactly")
        return
    if not (sli.good and sli.total):
        bad(loc + ("sli",), "an SLI needs good and total selectors, or latency")
        return
    for field in ("good", "total"):
        selector = parse_selector(getattr(sli, field))
        floc = loc + ("sli", field)
        if selector is None:
            bad(floc, 'not a selector like name{label="value"}')
            continue
        sig = c.signals.get(selector.signal)
        if sig is None or sig.type != "counter":
            bad(floc, f"{selector.signal!r} is not a counter signal")
            continue
        for m in selector.matchers:
            if m.label not in sig.labels:
                bad(floc, f"{selector.signal} has no label {m.label!r}")
            elif (problem := matcher_problem(m.label, m.op, m.value, sig.labels[m.label])) is not None:
                bad(floc, problem)
        setattr(slo, f"_{field}", selector)
    if slo.good and slo.total and slo.good.signal != slo.total.signal:
        bad(loc + ("sli",), "good and total must select the same signal")


def summary(c: Catalog) -> dict[str, Any]:
    return {
        "signals": len(c.signals),
        "max_series": sum(s.max_series() for s in c.signals.values()),
        "slos": len(c.slos),
        "alerts": len(c.alerts),
        "providers": len(c.providers),
    }
