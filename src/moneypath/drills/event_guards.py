"""Can a drill's load meet the minimum-event guards of the alerts it expects, at a time factor?

Some alerts page only above a volume floor, e.g. `sum by (provider) (increase(<provider requests>[5m])) >= 10`
(one failed call out of one at night is not an outage). Compression divides the window and keeps the floor
(moneypath.generate.compress), so at 60x that guard needs 10 calls in 5 s: 2 calls/s to the provider, where the
production rule needs 1 call every 30 s. A drill whose load brings less never pages, and would fail for a
reason that has nothing to do with the alert. Compressing the floor too would keep the window's rate but not
its meaning (10 calls is the evidence the rule asks for), so the floor stays and the drill is refused with the
largest factor at which its load meets every guard.

The load's events per second for a guard: the drill's flows per second (the peak's rate when it raises it), each
at least one event of every counter the guards count (an authorization, a provider call, an SLO event), split by
the mix's weights over the guard's grouping labels (provider, method, currency): the group the expected alert's
labels name, else the largest. Retries and captures add calls, so this is the floor the load surely brings.

A mean at the floor pages about half the time: the events in a window are Poisson around the planned rate, so a
drill is refused unless its window holds the floor with at least MARGIN probability (the mean `needed_mean`
gives: 10 events need a mean of 18.8 in the window, not 10).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from moneypath.catalog import duration_seconds
from moneypath.formats.drill import Drill
from moneypath.formats.drill_errors import located
from moneypath.generate.compress import RANGE_FLOOR_S, format_duration
from moneypath.generate.rules import alert_rules, recording_rules

_SELECTOR = r"(?:\{[^}]*\})?"
_INCREASE = re.compile(r"sum\s*(?:by\s*\((?P<by>[^)]*)\)\s*)?\(\s*increase\(\s*(?P<series>[A-Za-z_:][\w:]*"
                       + _SELECTOR + r")\s*\[(?P<w>[^\]:]+)\]")
_GUARD = re.compile(r"(?P<lhs>sum\s*(?:by\s*\([^)]*\)\s*)?\(\s*increase\([^\[]*\[[^\]]+\](?:\s*offset\s+\S+)?\s*\)\s*\)"
                    r"|(?P<record>[A-Za-z_:][\w:]*)" + _SELECTOR + r")\s*>=\s*(?P<n>\d+(?:\.\d+)?)")
SPLIT_BY_MIX = ("provider", "method", "currency")  # labels whose groups the drill's mix weights split the load over
MARGIN = 0.99  # P(the compressed window reaches the floor): docs/decisions/0018-event-floors-with-margin.md


def needed_mean(events: float, margin: float = MARGIN) -> float:
    """The smallest Poisson mean whose count reaches `events` with probability `margin`: P(N >= k) is the
    regularized lower incomplete gamma P(k, mean), so the mean is its inverse."""
    from scipy.special import gammaincinv

    k = math.ceil(events)
    return float(gammaincinv(k, margin)) if k > 0 else 0.0


def reach_probability(events: float, mean: float) -> float:
    """P(N >= events) for N Poisson with this mean."""
    from scipy.special import gammainc

    k = math.ceil(events)
    return float(gammainc(k, mean)) if k > 0 and mean > 0 else float(k <= 0)


@dataclass(frozen=True)
class Guard:
    alert: str
    window_s: float  # the production window
    events: float  # at least this many in the window
    by: tuple[str, ...]  # the grouping labels the floor holds per
    series: str = ""  # what it counts: a counter and its selector

    def held_query(self, window_s: float) -> str:
        """The events the guard's window held, per group, over a window of `window_s` (the compressed one)."""
        by = f" by ({', '.join(self.by)})" if self.by else ""
        return f"sum{by} (increase({self.series}[{format_duration(max(window_s, 1))}]))"


@dataclass(frozen=True)
class Shortfall:
    guard: Guard
    group: str  # e.g. "provider globex", or "all"
    offered_per_s: float  # what the drill's load brings to that group
    needed_per_s: float  # the rate whose window reaches the floor with MARGIN probability, at the factor
    window_s: float  # its window at the factor
    largest_factor: float

    def line(self, drill: Drill, factor: float, lines: dict[tuple, int] | None = None) -> str:
        """One line: file:line of the rate to raise (`lines`: the drill file's key_lines), the key, the floor, the
        chance the load has of reaching it, and the factor or the rate that would do."""
        key = ("load", "peak", "rate") if drill.load.peak else ("load", "rate")
        chance = reach_probability(self.guard.events, self.offered_per_s * self.window_s)
        return (f"{located(drill.path, lines or {}, key)}: {'.'.join(key)}: {self.guard.alert} pages only with at "
                f"least {self.guard.events:g} events in {self.window_s:g} s at --time-factor {factor:g} "
                f"({self.group}); the drill's {self.offered_per_s:.3g}/s reaches that with {chance:.0%} probability, "
                f"{MARGIN:.0%} needs {self.needed_per_s:.3g}/s: use --time-factor {self.largest_factor:g} or less, "
                f"or raise {'.'.join(key)} to {_rate_for(drill, self):g}")


def guards(catalog) -> dict[str, list[Guard]]:
    """Every generated alert name → the minimum-event guards of its rules (one per rule that has one)."""
    records: dict[str, str] = {}
    for group in recording_rules(catalog)["groups"]:
        for rule in group["rules"]:
            records.setdefault(rule["record"], rule["expr"])
    out: dict[str, list[Guard]] = {}
    for group in alert_rules(catalog)["groups"]:
        for rule in group["rules"]:
            found = [g for m in _GUARD.finditer(rule["expr"]) if (g := _guard(rule["alert"], m, records))]
            out.setdefault(rule["alert"], []).extend(found)
    return out


def _guard(alert: str, m: re.Match, records: dict[str, str]) -> Guard | None:
    text = records.get(m["record"], "") if m["record"] else m["lhs"]
    inner = _INCREASE.search(text)
    if inner is None:
        return None
    by = tuple(label.strip() for label in (inner["by"] or "").split(",") if label.strip())
    return Guard(alert, duration_seconds(inner["w"].strip()), float(m["n"]), by, " ".join(inner["series"].split()))


def shortfalls(drill: Drill, catalog, factor: float, resolve=lambda name: name) -> list[Shortfall]:
    """For each expected alert whose every guard the drill's load misses at `factor`, the easiest of them
    (`resolve`: a drill's alert name → the generated one). An alert with several guarded rules (a burn-rate
    pair per window, a guard in each branch of an `or`) pages when any of them is met; a rule without a guard
    pages on other evidence (a circuit breaker's state) the drill's fault need not produce, so it is not
    counted on."""
    if drill.load is None or not drill.alerts.expected:
        return []
    known, out = guards(catalog), []
    for expected in drill.alerts.expected:
        short = []
        for guard in known.get(resolve(expected.alert) or expected.alert, []):
            offered, group = _offered(drill, guard, expected.labels)
            window = max(guard.window_s / factor, RANGE_FLOOR_S)
            needed = needed_mean(guard.events) / window
            if offered + 1e-9 >= needed:
                break
            short.append(Shortfall(guard, group, offered, needed, window, _limit(guard, offered)))
        else:
            if short:
                out.append(max(short, key=lambda s: s.largest_factor))
    return out


def largest_factor(drill: Drill, catalog, resolve=lambda name: name) -> float:
    """The largest time factor at which the drill's load meets a guard of every expected alert (inf: any)."""
    known, limits = guards(catalog), []
    for expected in drill.alerts.expected if drill.load is not None else ():
        found = known.get(resolve(expected.alert) or expected.alert, [])
        if found:
            limits.append(max(_limit(g, _offered(drill, g, expected.labels)[0]) for g in found))
    return min(limits, default=math.inf)


def _limit(guard: Guard, offered: float) -> float:
    """The largest factor at which `offered` events/s meet the guard with MARGIN probability: its window,
    compressed, must hold the mean that reaches the floor (inf when even the floor of RANGE_FLOOR_S does)."""
    if offered <= 0:
        return 0
    mean = needed_mean(guard.events)
    if mean / offered <= RANGE_FLOOR_S:
        return math.inf
    return math.floor(guard.window_s * offered / mean * 1000) / 1000


def _offered(drill: Drill, guard: Guard, labels: dict[str, str]) -> tuple[float, str]:
    """(the drill's events per second to the guard's group, that group in words)."""
    load = drill.load
    rate = load.peak.rate if load.peak else load.rate
    weights = {"provider": load.providers, "method": load.methods, "currency": load.currencies}
    share, named = 1.0, []
    for label in guard.by:
        if label not in SPLIT_BY_MIX:
            continue
        w = weights[label]
        total = sum(w.values())
        value = labels.get(label) or _faulted(drill, label, w) or max(w, key=w.get)
        share *= w.get(value, 0.0) / total
        named.append(f"{label} {value}")
    return rate * share, ", ".join(named) or "all of the load"


def group_share(drill: Drill, guard: Guard, labels: dict[str, str]) -> float:
    """The share of the drill's payments that go to the guard's group (the mix's weights, as _offered splits them)."""
    rate = drill.load.peak.rate if drill.load.peak else drill.load.rate
    return _offered(drill, guard, labels)[0] / rate if rate else 0.0


def _faulted(drill: Drill, label: str, weights: dict[str, float]) -> str | None:
    """The provider the drill's fault breaks, when the guard counts per provider and the load sends to it: the
    group whose alert the fault makes page."""
    target = drill.fault.target if drill.fault is not None else None
    return target if label == "provider" and target in weights else None


def _rate_for(drill: Drill, s: Shortfall) -> float:
    """The rate of the key the line names (load.peak.rate with a peak, else load.rate) at which the drill would
    meet the guard with MARGIN probability."""
    rate = drill.load.peak.rate if drill.load.peak else drill.load.rate
    share = s.offered_per_s / rate if rate else 0
    return math.ceil(s.needed_per_s / share) if share else math.inf


@dataclass(frozen=True)
class Held:
    """What one guard of an expected alert's compressed window held at the deadline."""
    expected: object  # the drill's expected alert (formats.drill)
    guard: Guard
    window_s: float  # the compressed window
    group: str  # e.g. "provider globex", or "all"
    count: float | None  # the most events a matching group held; None: none, or not read
    line: str
    read: bool = True  # False: Prometheus did not answer the guard's query


def held_counts(drill: Drill, catalog, factor: float, alerts: list, query, resolve=lambda name: name) -> list[Held]:
    """For each expected alert in `alerts` that did not page, each of its guards: what its compressed window held now
    (`query`: PromQL -> [(labels, value)], e.g. Prometheus at the deadline), with its line. A guard that cannot be
    read says so; an alert with no guard is left out."""
    known, out = guards(catalog), []
    for expected in alerts:
        for guard in known.get(resolve(expected.alert) or expected.alert, []):
            window = max(guard.window_s / factor, RANGE_FLOOR_S)
            expr = guard.held_query(window)
            group = ", ".join(f"{k} {expected.labels[k]}" for k in guard.by if k in expected.labels) or "all"
            try:
                series = query(expr)
            except Exception as exc:  # noqa: BLE001 - a report line, never the drill's end
                out.append(Held(expected, guard, window, group, None,
                                f"{guard.alert}: its guard's {window:g} s window could not be read ({exc})", False))
                continue
            mine = [(labels, v) for labels, v in series
                    if all(labels.get(k) == v2 for k, v2 in expected.labels.items() if k in guard.by)]
            if not mine:
                out.append(Held(expected, guard, window, group, None,
                                f"{guard.alert} did not page: its guard's {window:g} s window held no events for "
                                f"{group} (floor {guard.events:g}; `{expr}` returned nothing)"))
                continue
            count = max(v for _, v in mine)
            out.append(Held(expected, guard, window, group, count,
                            f"{guard.alert} did not page: its guard's {window:g} s window held {count:.3g} events for "
                            f"{group} at the deadline (floor {guard.events:g})"))
    return out


def held(drill: Drill, catalog, factor: float, alerts: list, query, resolve=lambda name: name) -> list[str]:
    """The lines of held_counts, each once (an alert's rules may share a guard: a burn-rate pair)."""
    return list(dict.fromkeys(h.line for h in held_counts(drill, catalog, factor, alerts, query, resolve)))
