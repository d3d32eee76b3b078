"""DORA's classification of an incident (RTS 2024/1772) from what was measured: each criterion met, not met or
not measured, with its figures and query; the incident "major", "not major" or "not measured".

Art. 8(1): major where a critical service was affected (Art. 6) and either the data-loss threshold of
Art. 9(5)(b) is met or two or more of the thresholds of Art. 9(1)-(6) are. A threshold is met where any of its
conditions is, not met only where every one was measured and is not; moneypath measures Art. 9(1)(a),(b)
(with a clients counter), (d), (e) and Art. 9(3); the rest only a person can say (`assessed`). The result is
never "not major" while a threshold left unmeasured could make it major.

`measure` reads the figures from Prometheus over the incident window; the drills give their own
(moneypath.drills.tolerance). `classify` judges either.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath._common.verdict import NOT_MEASURED, register
from moneypath.catalog import Catalog
from moneypath.catalog.business_services import BusinessService, Thresholds, seconds

MET, NOT_MET = "met", "not met"
MAJOR, NOT_MAJOR = "major", "not major"
DAY = 86400.0
RTS = "RTS 2024/1772"
# What only a person can judge: --assess NAME=met|not-met; name → (threshold paragraph, article, what).
ASSESSED = {
    "counterparts": ("9(1)", "Art. 9(1)(c)", "more than 30 % of the financial counterparts affected"),
    "relevant_clients": ("9(1)", "Art. 9(1)(f)", "clients or counterparts identified as relevant affected"),
    "reputational": ("9(2)", "Art. 9(2)", "reputational impact (media, complaints, regulatory obligations missed)"),
    "geographical": ("9(4)", "Art. 9(4)", "impact in two or more Member States"),
    "data_losses": ("9(5)", "Art. 9(5)(a)", "loss of availability, authenticity, integrity or confidentiality of data"),
    "malicious_access": ("9(5)", "Art. 9(5)(b)", "successful malicious unauthorised access that may lead to data "
                                                  "losses (major on its own, Art. 8(1)(a))"),
    "economic": ("9(6)", "Art. 9(6)", "direct and indirect costs and losses above EUR 100,000"),
}
THRESHOLDS = ("9(1)", "9(2)", "9(3)", "9(4)", "9(5)", "9(6)")


@dataclass
class Measures:
    """The figures a classification judges; None: not measured (why in `why`)."""

    service: str
    critical: bool
    duration_s: float
    affected: float | None = None  # transactions of the service that did not go through in the window
    transactions: float | None = None  # all its transactions in the window
    daily_transactions: float | None = None  # the daily average number before the incident
    affected_value: dict[str, float] | None = None  # currency → minor units affected
    daily_value: dict[str, float] | None = None  # currency → the daily average value, minor units
    clients_affected: float | None = None
    clients_total: int | None = None
    downtime_s: float | None = None
    assessed: dict[str, bool] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)  # measure → the PromQL it came from
    why: dict[str, str] = field(default_factory=dict)  # measure → why it is not measured


@dataclass
class Criterion:
    name: str
    article: str
    threshold: str  # the Art. 9 paragraph it belongs to, or "6" for the critical service
    status: str  # met | not met | not measured
    figures: str
    query: str = ""


@dataclass
class Classification:
    service: str
    result: str  # major | not major | not measured
    reason: str
    criteria: list[Criterion]
    thresholds: dict[str, str]  # Art. 9 paragraph → met | not met | not measured

    def to_dict(self) -> dict:
        return asdict(self)


def _pct(x: float) -> str:
    return f"{x * 100:.4g} %"


def _share(name: str, article: str, part: float | None, whole: float | None, limit: float, what: str,
           why: str, query: str) -> Criterion:
    if part is None or whole is None:
        return Criterion(name, article, "9(1)", NOT_MEASURED, why or f"{what}: not measured", query)
    if whole <= 0:
        return Criterion(name, article, "9(1)", NOT_MEASURED, f"{what}: no daily average to compare with (0)", query)
    share = part / whole
    return Criterion(name, article, "9(1)", MET if share > limit else NOT_MET,
                     f"{what}: {part:.6g} of a daily average of {whole:.6g} = {_pct(share)} (threshold > {_pct(limit)})",
                     query)


def criteria(m: Measures, t: Thresholds) -> list[Criterion]:
    """Every criterion RTS 2024/1772 names, judged from the figures (assessed ones from `m.assessed`)."""
    q, why = m.queries, m.why
    out = []
    if m.affected is None:
        crit = Criterion("critical_service", f"{RTS} Art. 6, 8(1)", "6", NOT_MEASURED,
                         why.get("affected", "transactions affected: not measured"), q.get("affected", ""))
    elif not m.critical:
        crit = Criterion("critical_service", f"{RTS} Art. 6, 8(1)", "6", NOT_MET,
                         f"{m.service} supports no critical or important function (catalog: critical: false)")
    else:
        crit = Criterion("critical_service", f"{RTS} Art. 6, 8(1)", "6", MET if m.affected > 0 else NOT_MET,
                         f"{m.service} supports a critical function; {m.affected:.6g} of its transactions affected",
                         q.get("affected", ""))
    out.append(crit)
    if m.clients_affected is None:
        reason = why.get("clients", "clients affected: not measured")
        out.append(Criterion("clients_share", f"{RTS} Art. 9(1)(a)", "9(1)", NOT_MEASURED, reason, q.get("clients", "")))
        out.append(Criterion("clients", f"{RTS} Art. 9(1)(b)", "9(1)", NOT_MEASURED, reason, q.get("clients", "")))
    else:
        out.append(_share("clients_share", f"{RTS} Art. 9(1)(a)", m.clients_affected, m.clients_total, t.clients_share,
                          "clients affected", "" if m.clients_total else "clients affected: not measured: the "
                          "catalog gives no dora.clients_total (all clients of the service)", q.get("clients", "")))
        out.append(Criterion("clients", f"{RTS} Art. 9(1)(b)", "9(1)", MET if m.clients_affected > t.clients else NOT_MET,
                             f"{m.clients_affected:.6g} clients affected (threshold > {t.clients:,})", q.get("clients", "")))
    out.append(_share("transactions_share", f"{RTS} Art. 9(1)(d)", m.affected, m.daily_transactions,
                      t.transactions_share, "transactions affected",
                      why.get("affected") or why.get("daily_transactions", ""),
                      " / ".join(x for x in (q.get("affected"), q.get("daily_transactions")) if x)))
    out.append(_value(m, t))
    over_day = m.duration_s > seconds(t.duration)
    out.append(Criterion("duration", f"{RTS} Art. 9(3)(a)", "9(3)", MET if over_day else NOT_MET,
                         f"{m.duration_s / 3600:.3g} h (threshold > {t.duration})"))
    if m.downtime_s is None:
        out.append(Criterion("downtime", f"{RTS} Art. 9(3)(b)", "9(3)", NOT_MEASURED,
                             why.get("downtime", "downtime: not measured"), q.get("downtime", "")))
    elif not m.critical:
        out.append(Criterion("downtime", f"{RTS} Art. 9(3)(b)", "9(3)", NOT_MET,
                             f"{m.downtime_s / 60:.3g} min, but the threshold is for critical functions only"))
    else:
        out.append(Criterion("downtime", f"{RTS} Art. 9(3)(b)", "9(3)",
                             MET if m.downtime_s > seconds(t.downtime) else NOT_MET,
                             f"{m.downtime_s / 60:.3g} min of downtime (threshold > {t.downtime})", q.get("downtime", "")))
    for name, (para, article, what) in ASSESSED.items():
        if name in m.assessed:
            out.append(Criterion(name, f"{RTS} {article}", para, MET if m.assessed[name] else NOT_MET,
                                 f"{what}: assessed {'met' if m.assessed[name] else 'not met'} (--assess)"))
        else:
            out.append(Criterion(name, f"{RTS} {article}", para, NOT_MEASURED, f"{what}: not measured: moneypath "
                                 f"cannot see it; give --assess {name}=met|not-met"))
    return out


def _value(m: Measures, t: Thresholds) -> Criterion:
    """Art. 9(1)(e) per currency (no exchange rates): met where any currency's affected value is above the share."""
    article, query = f"{RTS} Art. 9(1)(e)", " / ".join(x for x in (m.queries.get("affected_value"),
                                                                  m.queries.get("daily_value")) if x)
    if m.affected_value is None or m.daily_value is None:
        return Criterion("value_share", article, "9(1)", NOT_MEASURED, m.why.get("value", "value: not measured"), query)
    shares, unknown = {}, []
    for cur, daily in m.daily_value.items():
        if daily > 0:
            shares[cur] = m.affected_value.get(cur, 0.0) / daily
    unknown = [cur for cur, v in m.affected_value.items() if v > 0 and cur not in shares]
    if not shares:
        return Criterion("value_share", article, "9(1)", NOT_MEASURED, "value: not measured: no daily average value",
                         query)
    text = "; ".join(f"{cur} {_pct(s)}" for cur, s in sorted(shares.items()))
    limit = f"(threshold > {_pct(t.value_share)} in any currency)"
    if any(s > t.value_share for s in shares.values()):
        return Criterion("value_share", article, "9(1)", MET, f"value affected: {text} {limit}", query)
    if unknown:
        return Criterion("value_share", article, "9(1)", NOT_MEASURED, f"value affected: {text}; no daily average "
                         f"in {', '.join(unknown)} {limit}", query)
    return Criterion("value_share", article, "9(1)", NOT_MET, f"value affected: {text} {limit}", query)


def classify(m: Measures, t: Thresholds) -> Classification:
    """Art. 8(1) over the criteria; never "not major" while an unmeasured threshold could make it major."""
    crits = criteria(m, t)
    groups = {}
    for para in THRESHOLDS:
        statuses = [c.status for c in crits if c.threshold == para]
        groups[para] = (MET if MET in statuses else NOT_MEASURED if NOT_MEASURED in statuses else NOT_MET)
    critical = crits[0].status
    alone = next(c.status for c in crits if c.name == "malicious_access")
    met = [p for p, s in groups.items() if s == MET]
    open_ = [p for p, s in groups.items() if s == NOT_MEASURED]
    cannot = alone == NOT_MET and len(met) + len(open_) < 2  # no threshold left unmeasured can make it two
    if critical == NOT_MET:
        return Classification(m.service, NOT_MAJOR, f"no critical service affected ({crits[0].figures})", crits, groups)
    if critical == MET and (alone == MET or len(met) >= 2):
        why = "Art. 9(5)(b) met" if alone == MET else f"thresholds met: Art. {', '.join(met)}"
        return Classification(m.service, MAJOR, f"a critical service affected and {why}", crits, groups)
    if cannot:
        return Classification(m.service, NOT_MAJOR, "fewer than two thresholds can be met (met: "
                              f"{', '.join(met) or 'none'}; every other measured or assessed not met)", crits, groups)
    unknown = ([] if critical != NOT_MEASURED else ["critical service affected"]) + [f"Art. {p}" for p in open_]
    return Classification(m.service, NOT_MEASURED, f"not measured: {', '.join(unknown)} could still make it major "
                          f"(met: {', '.join(met) or 'none'})", crits, groups)


register("check.classification", classify)


# ---------------------------------------------------------------- from Prometheus


def _scalar(prom: Prometheus, query: str, at: float) -> float | None:
    rows = prom.instant(query, at)
    values = [float(r["value"][1]) for r in rows]
    values = [v for v in values if not math.isnan(v)]
    return sum(values) if values else None


def _by_currency(prom: Prometheus, query: str, at: float) -> dict[str, float] | None:
    rows = prom.instant(query, at)
    out = {r["metric"].get("currency", "?"): float(r["value"][1]) for r in rows}
    out = {k: v for k, v in out.items() if not math.isnan(v)}
    return out or None


def _selector(catalog: Catalog, text: str) -> str:
    """A catalog selector with the signal's exported name."""
    name, brace, rest = text.strip().partition("{")
    return catalog.metric(name) + (brace + rest if brace else "")


def measure(prom: Prometheus, catalog: Catalog, name: str, start: float, end: float,
            assessed: dict[str, bool] | None = None, step: float | None = None) -> Measures:
    """The service's figures over [start, end] from Prometheus. A query that returns nothing leaves its measure
    None with why; Prometheus unreachable raises PrometheusError."""
    svc: BusinessService = catalog.business_services[name]
    dora = catalog.dora
    m = Measures(service=name, critical=svc.critical, duration_s=end - start, assessed=dict(assessed or {}))
    window = f"{max(1, round(end - start))}s"
    over = dora.daily_average_over
    over_s = seconds(over)
    per_day = DAY / over_s
    total, affected = _selector(catalog, svc.transactions), _selector(catalog, svc.affected)
    q = m.queries
    q["affected"] = f"sum(increase({affected}[{window}]))"
    q["transactions"] = f"sum(increase({total}[{window}]))"
    q["daily_transactions"] = f"sum(increase({total}[{over}])) * {per_day:g}"
    m.affected = _scalar(prom, q["affected"], end)
    if m.affected is None:
        m.why["affected"] = f"transactions affected: not measured: Prometheus has no series for {affected}"
    m.transactions = _scalar(prom, q["transactions"], end)
    covered = _covered(prom, f"sum({total})", start, over_s)
    if covered is not None:
        m.why["daily_transactions"] = covered
    else:
        m.daily_transactions = _scalar(prom, q["daily_transactions"], start)
        if m.daily_transactions is None:
            m.why["daily_transactions"] = f"daily average: not measured: no series for {total} before the incident"
    if svc.value is None or svc.affected_value is None:
        m.why["value"] = (f"value affected: not measured: the catalog gives {name} no value/affected_value selectors "
                          "(counters of minor units by currency)")
    else:
        value, affected_value = _selector(catalog, svc.value), _selector(catalog, svc.affected_value)
        q["affected_value"] = f"sum by (currency) (increase({affected_value}[{window}]))"
        q["daily_value"] = f"sum by (currency) (increase({value}[{over}])) * {per_day:g}"
        m.affected_value = _by_currency(prom, q["affected_value"], end)
        m.daily_value = None if covered else _by_currency(prom, q["daily_value"], start)
        if m.affected_value is None or m.daily_value is None:
            m.why["value"] = covered or f"value affected: not measured: no series for {affected_value} or {value}"
    if dora.clients_signal is None:
        m.why["clients"] = ("clients affected: not measured: the catalog declares no counter of them "
                            "(dora.clients_signal)")
    else:
        q["clients"] = f"sum(increase({catalog.metric(dora.clients_signal)}[{window}]))"
        m.clients_affected = _scalar(prom, q["clients"], end)
        m.clients_total = dora.clients_total
        if m.clients_affected is None:
            m.why["clients"] = f"clients affected: not measured: no series for {catalog.metric(dora.clients_signal)}"
    m.downtime_s, why = _downtime(prom, total, affected, start, end, m.daily_transactions,
                                  catalog.dora.thresholds.down_share, step, q)
    if why:
        m.why["downtime"] = why
    return m


def _covered(prom: Prometheus, query: str, start: float, over_s: float) -> str | None:
    """Why the daily average cannot be taken (Prometheus holds too little of the window before the incident),
    or None when it holds at least 90 % of it."""
    step = max(over_s / 100, 1.0)
    rows = prom.range(query, start - over_s, start, step)
    times = [float(t) for r in rows for t, _ in r["values"]]
    if not times:
        return f"daily average: not measured: no series for {query} in the {over_s / 3600:.3g} h before the incident"
    held = start - min(times)
    if held < 0.9 * over_s:
        return (f"daily average: not measured: Prometheus holds {held / 3600:.3g} h of the {over_s / 3600:.3g} h "
                "before the incident (dora.daily_average_over)")
    return None


def _downtime(prom: Prometheus, total: str, affected: str, start: float, end: float, daily: float | None,
              down_share: float, step: float | None, q: dict) -> tuple[float | None, str]:
    """Seconds of the window in which more than `down_share` of the transactions were affected, or the traffic
    fell below `down_share` of its daily average rate."""
    step = step or min(60.0, max(1.0, (end - start) / 60))
    rng = f"{max(2, round(4 * step))}s"
    q["downtime"] = (f"sum(rate({affected}[{rng}])) / sum(rate({total}[{rng}])) > {down_share:g}"
                     + (f" or sum(rate({total}[{rng}])) < {down_share * daily / DAY:g}" if daily else ""))
    ratio = prom.range(f"sum(rate({affected}[{rng}])) / sum(rate({total}[{rng}]))", start, end, step)
    rate = prom.range(f"sum(rate({total}[{rng}]))", start, end, step)
    if not ratio and not rate:
        return None, f"downtime: not measured: Prometheus has no series for {total} in the window"
    down = set()
    for r in ratio:
        down |= {float(t) for t, v in r["values"] if not math.isnan(float(v)) and float(v) > down_share}
    if daily:
        for r in rate:
            down |= {float(t) for t, v in r["values"] if float(v) < down_share * daily / DAY}
    return len(down) * step, ""


__all__ = ["ASSESSED", "MAJOR", "MET", "NOT_MAJOR", "NOT_MET", "Classification", "Criterion", "Measures",
           "PrometheusError", "classify", "criteria", "measure"]
