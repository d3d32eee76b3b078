"""The live map's data: each edge and node of a money-path map coloured from Prometheus (docs/map.md, "Live").

Per edge: red while a firing `page` alert reads one of its signals, amber while a `ticket` alert does or an SLO
whose SLI reads one of them is beyond its objective over its shortest window, green when one of its signals
returns data now and none of that holds, grey when it is not measured (no signal, no data, Prometheus not
reached) — never green on no data. An alert reads a signal when its expression, recording rules expanded
(moneypath.map.reads), selects the signal's metric with matchers that can agree, and its labels do not name
another value of a label the signal's selector constrains (provider="acme" is not the globex edge's). An edge
into a provider's node also takes the alerts firing for that provider (its circuit breaker open).

Figures beside each edge, each only when its query returns a number: rate, errors, latency p99, lag, depth.
A handful of requests whatever the map's size: the rules (with their alerts) once, one query per role over up to
CHUNK edges, one for the SLOs' error ratios.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath._common.verdict import jsonable, not_measured
from moneypath.catalog import duration_seconds
from moneypath.catalog.conventions import SLI_WINDOWS, sli_error_record
from moneypath.catalog.terms import Selector
from moneypath.map.graph import EdgeSignal, MapEdge, MoneyPathMap
from moneypath.map.marks import MapHealth, Mark, State
from moneypath.map.reads import Read, compatible, raw_reads, reads, reads_signal, recordings_of

WINDOW = "1m"  # the rate window of the figures: a minute of a 15 s scrape holds four samples
QUANTILE = 0.99
CHUNK = 25  # edges per query: a 100-edge map is four queries a role, each URL a few kB
SEVERITIES = {"page": State.RED, "ticket": State.AMBER}
EDGE_LABEL = "map_edge"  # the label each edge's figure is tagged with in a batched query


@dataclass(frozen=True)
class Firing:
    """A firing alert and what its rule's expression reads, recording rules expanded."""

    name: str
    severity: str
    labels: dict[str, str]
    reads: tuple[Read, ...]

    def reads_signal(self, signal: EdgeSignal) -> bool:
        return reads_signal(self.reads, signal, self.labels)

    def describe(self) -> str:
        named = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items())
                          if k not in ("alertname", "severity") and not k.startswith("__"))
        return f"{self.name}{{{named}}}" if named else self.name


def firing_alerts(groups: Iterable[dict]) -> list[Firing]:
    """The firing `page` and `ticket` alerts of /api/v1/rules' groups, each with what its rule reads."""
    groups = list(groups)
    recordings = recordings_of(groups)
    found = []
    for group in groups:
        for rule in group.get("rules", []):
            if rule.get("type") != "alerting":
                continue
            firing = [a for a in rule.get("alerts", []) if a.get("state") == "firing"]
            if not firing:
                continue
            expanded = raw_reads(reads(rule.get("query", "")), recordings)
            for alert in firing:
                labels = dict(alert.get("labels") or {})
                severity = labels.get("severity") or (rule.get("labels") or {}).get("severity", "")
                if severity in SEVERITIES:
                    found.append(Firing(labels.get("alertname", rule.get("name", "")), severity, labels, expanded))
    return found


# ---------------------------------------------------------------- figures


def _selector(signal: EdgeSignal, suffix: str = "") -> str:
    inner = ",".join(f'{m.label}{m.op}"{m.value}"' for m in signal.selector.matchers)
    return f"{signal.metric}{suffix}{{{inner}}}" if inner else f"{signal.metric}{suffix}"


def role_query(edge: MapEdge, role: str, window: str = WINDOW) -> str | None:
    """The PromQL of an edge's figure for one role, or None when the edge has no signal for it."""
    signal = edge.signal(role)
    if signal is None:
        return None
    if role == "rate":
        return f"sum(rate({_selector(signal)}[{window}]))"
    if role == "errors":
        errors = f"sum(rate({_selector(signal)}[{window}]))"
        rate = edge.signal("rate")
        return f"{errors} / sum(rate({_selector(rate)}[{window}]))" if rate else errors
    if role == "latency":
        return f"histogram_quantile({QUANTILE}, sum by (le) (rate({_selector(signal, '_bucket')}[{window}])))"
    if role == "lag":
        return f"max({_selector(signal)})"
    return f"sum({_selector(signal)})"  # depth


ROLES = ("rate", "errors", "latency", "lag", "depth")


def batched(queries: dict[str, str]) -> str:
    """One query answering each of `queries` (edge id → PromQL of one unlabelled value), each tagged EDGE_LABEL."""
    return " or ".join(f'label_replace({q}, "{EDGE_LABEL}", "{edge_id}", "", "")' for edge_id, q in queries.items())


def read_figures(prom: Prometheus, graph: MoneyPathMap, window: str, at: float) -> dict[tuple[str, str], float]:
    """(edge id, role) → the finite value its figure query returned now; NaN and no answer are left out."""
    values: dict[tuple[str, str], float] = {}
    for role in ROLES:
        queries = {e.id: q for e in graph.edges if (q := role_query(e, role, window)) is not None}
        ids = list(queries)
        for start in range(0, len(ids), CHUNK):
            chunk = {i: queries[i] for i in ids[start:start + CHUNK]}
            for sample in prom.instant(batched(chunk), at):
                edge_id = sample["metric"].get(EDGE_LABEL)
                value = float(sample["value"][1])
                if edge_id in chunk and math.isfinite(value):
                    values[(edge_id, role)] = value
    return values


def compact(x: float) -> str:
    """A number in few characters: 0, 0.042, 4.2, 42.5, 420, 4200, 42.5k, 4.2M; under 0.001 "<0.001"."""
    if x == 0:
        return "0"
    if abs(x) < 0.001:
        return "<0.001"
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= 10 * size or (suffix == "M" and abs(x) >= size):
            return f"{compact(x / size)}{suffix}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.2g}" if abs(x) < 10 else f"{x:.1f}".removesuffix(".0")


def figures(edge: MapEdge, values: dict[tuple[str, str], float]) -> tuple[str, ...]:
    """What is drawn beside an edge: its rate, errors, latency p99, lag and depth, each only when read."""
    out = []
    if (v := values.get((edge.id, "rate"))) is not None:
        out.append(f"{compact(v)}/s")
    if (v := values.get((edge.id, "errors"))) is not None:
        out.append(f"errors {compact(v * 100)} %" if edge.signal("rate") else f"errors {compact(v)}/s")
    if (v := values.get((edge.id, "latency"))) is not None:
        out.append(f"p{QUANTILE * 100:g} {compact(v * 1000)} ms" if v < 1 else f"p{QUANTILE * 100:g} {compact(v)} s")
    if (v := values.get((edge.id, "lag"))) is not None:
        out.append(f"lag {compact(v)} s" if v < 120 else f"lag {compact(v / 60)} min" if v < 7200
                   else f"lag {compact(v / 3600)} h")
    if (v := values.get((edge.id, "depth"))) is not None:
        out.append(f"depth {compact(v)}")
    return tuple(out)


# ---------------------------------------------------------------- SLOs


@dataclass(frozen=True)
class SloReading:
    """An SLO of a catalog: the signal its SLI reads, and its error ratio over its shortest window (None: absent)."""

    key: str
    signal: str  # catalog signal key
    selector: Selector | None  # the SLI's total (None for a latency SLI: every observation)
    budget: float
    ratio: float | None
    record: str

    def reads(self, signal: EdgeSignal) -> bool:
        return signal.key == self.signal and compatible(self.selector.matchers if self.selector else (),
                                                        signal.selector.matchers)


def shortest_window() -> str:
    return min(SLI_WINDOWS, key=duration_seconds)


def read_slos(prom: Prometheus, graph: MoneyPathMap, at: float) -> list[SloReading]:
    """Every catalog SLO with its recorded error ratio over the shortest SLI window (one query for all)."""
    slos = [(key, slo) for catalog in graph.catalogs.values() for key, slo in catalog.slos.items()]
    if not slos:
        return []
    record = sli_error_record(shortest_window())
    ratios = {}
    for sample in prom.instant(record, at):
        value = float(sample["value"][1])
        if math.isfinite(value):
            ratios[sample["metric"].get("slo")] = value
    readings = []
    for key, slo in slos:
        signal = slo.sli.latency.signal if slo.sli.latency else slo.total.signal if slo.total else None
        if signal is not None:
            readings.append(SloReading(key, signal, None if slo.sli.latency else slo.total, slo.error_budget,
                                       ratios.get(key), f'{record}{{slo="{key}"}}'))
    return readings


def _pct(x: float) -> str:
    return f"{compact(x * 100)} %"


# ---------------------------------------------------------------- states


def edge_mark(edge: MapEdge, firing: list[Firing], slos: list[SloReading],
              values: dict[tuple[str, str], float], calls: str | None = None) -> Mark:
    """An edge's state, figures, why and alerts from what was read. `calls`: the provider of the node the edge
    reaches, whose own alerts (its circuit breaker open, read from a signal no edge declares) are the edge's too."""
    if not edge.signals:
        return Mark(State.GREY, why=not_measured("the edge declares no signals"))
    shown = figures(edge, values)
    hits = [(f, f"reading {s.metric}") for f in firing for s in edge.signals if f.reads_signal(s)]
    hits += [(f, f"for {calls}, which this edge calls") for f in firing
             if calls is not None and f.labels.get("provider") == calls and all(f is not g for g, _ in hits)]
    alerts = tuple(dict.fromkeys(f.name for f, _ in hits))
    for severity in SEVERITIES:
        first = next(((f, how) for f, how in hits if f.severity == severity), None)
        if first:
            f, how = first
            more = len({x.describe() for x, _ in hits if x.severity == severity}) - 1
            why = f"{severity} alert {f.describe()} fires, {how}" + (f" (and {more} more)" if more else "")
            return Mark(SEVERITIES[severity], shown, why, alerts)
    mine = [r for r in slos if any(r.reads(s) for s in edge.signals)]
    beyond = [r for r in mine if r.ratio is not None and r.ratio > r.budget]
    if beyond:
        r = beyond[0]
        return Mark(State.AMBER, shown, f"SLO {r.key}: error ratio {_pct(r.ratio)} ({r.record}) is beyond its "
                    f"budget of {_pct(r.budget)}", alerts)
    if not any(key[0] == edge.id for key in values):
        metrics = ", ".join(dict.fromkeys(s.metric for s in edge.signals))
        return Mark(State.GREY, why=not_measured(f"no data now from {metrics}"))
    unmeasured = [r.key for r in mine if r.ratio is None]
    why = "measured; no alert reading its signals fires"
    if mine:
        within = [r.key for r in mine if r.ratio is not None]
        why += f"; SLO {', '.join(within)} within" if within else ""
        why += f"; SLO {', '.join(unmeasured)} not measured ({sli_error_record(shortest_window())} absent)" \
            if unmeasured else ""
    return Mark(State.GREEN, shown, why, alerts)


def node_marks(graph: MoneyPathMap, edges: dict[str, Mark], firing: list[Firing]) -> dict[str, Mark]:
    """Each node: the worst state of its edges, and of the alerts naming its provider; grey when nothing is
    measured on it."""
    marks = {}
    for node in graph.nodes.values():
        touching = [(e.id, edges[e.id]) for e in graph.edges if node.id in (e.source, e.target)]
        own = [f for f in firing if node.provider is not None and f.labels.get("provider") == node.provider]
        candidates = [(m.state, f"edge {eid} {m.state.value}: {m.why}") for eid, m in touching]
        candidates += [(SEVERITIES[f.severity], f"{f.severity} alert {f.describe()} fires for its provider")
                       for f in own]
        alerts = tuple(dict.fromkeys([*(a for _, m in touching for a in m.alerts), *(f.name for f in own)]))
        worst = max(candidates, key=lambda c: c[0].rank, default=None)
        if worst is None:
            marks[node.id] = Mark(State.GREY, why=not_measured("no edge touches this node"))
        elif worst[0] is State.GREY:
            marks[node.id] = Mark(State.GREY, why=not_measured("none of its edges is measured"), alerts=alerts)
        else:
            marks[node.id] = Mark(worst[0], why=worst[1], alerts=alerts)
    return marks


def all_grey(graph: MoneyPathMap, why: str, at: float, source: str) -> MapHealth:
    mark = Mark(State.GREY, why=not_measured(why))
    return MapHealth(nodes={n: mark for n in graph.nodes}, edges={e.id: mark for e in graph.edges}, at=at,
                     source=source)


def read_health(graph: MoneyPathMap, prometheus_url: str, *, timeout_s: float = 5.0,
                window: str = WINDOW) -> MapHealth:
    """The map's marks read from the Prometheus at `prometheus_url` now; every element grey, with the reason,
    when it cannot be read (each request bounded by `timeout_s`). `window`: the figures' rate window."""
    at = time.time()
    source = prometheus_url.rstrip("/")
    try:
        with Prometheus(prometheus_url, timeout_s=timeout_s) as prom:
            groups = prom.get("/api/v1/rules")["groups"]
            values = read_figures(prom, graph, window, at)
            slos = read_slos(prom, graph, at)
    except PrometheusError as exc:
        return all_grey(graph, str(exc), at, source)
    firing = firing_alerts(groups)
    edges = {e.id: edge_mark(e, firing, slos, values, graph.nodes[e.target].provider) for e in graph.edges}
    return MapHealth(nodes=node_marks(graph, edges, firing), edges=edges, at=at, source=source)


# ---------------------------------------------------------------- JSON


def health_to_dict(health: MapHealth) -> dict:
    """MapHealth as strict JSON (the CLI's --json, drill reports, tests): its fields, each mark's state by value,
    and the worst state over the map."""
    return {**jsonable(health), "worst": health.worst().value}


def health_from_dict(data: dict) -> MapHealth:
    """The MapHealth `health_to_dict` wrote."""

    def mark(d: dict) -> Mark:
        return Mark(State(d["state"]), tuple(d.get("figures", ())), d.get("why", ""), tuple(d.get("alerts", ())))

    return MapHealth(nodes={k: mark(v) for k, v in data.get("nodes", {}).items()},
                     edges={k: mark(v) for k, v in data.get("edges", {}).items()},
                     at=data.get("at"), source=data.get("source", ""))
