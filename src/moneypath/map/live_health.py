"""The live map's data: each edge and node of a money-path map read from Prometheus (docs/map-live.md).

Green is measured health: traffic seen on the edge in the window, the targets its series come from up, and its
signals within the objectives its catalog declares for them (moneypath.map.objectives); the rules in order are
moneypath.map.edge_state's. Red while a firing page alert reads one of its signals, amber while a ticket alert
does or a signal is beyond its objective; idle with no traffic; "no objective" when nothing bounds its signals;
grey when not measured (no signal, no data, a dead or stale target, counters that are not data, no Prometheus).
An alert reads a signal when its expression, recording rules expanded (moneypath.map.reads), selects the signal's
metric with matchers that can agree, and its labels do not name another value of a label the signal's selector
constrains (provider="acme" is not the globex edge's). An edge into a provider's node also takes the alerts
firing for that provider (its circuit breaker open). Firing page alerts that no edge shows are kept (`unplaced`)
so that the page lists them.

A handful of requests whatever the map's size: the rules (with their alerts) once, the targets once, one query
per figure over up to CHUNK edges, one for the targets each edge's series came from, one for the SLOs' error
ratios, and the counter-reset check the caller passes (moneypath.check.counter_resets sits above this layer).
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
from moneypath.map.edge_state import SEVERITIES, EdgeReading, Hit, decide
from moneypath.map.figures import (  # noqa: F401 - the live map's figures, imported from here by its readers
    CHUNK,
    EDGE_LABEL,
    QUANTILE,
    ROLES,
    TRAFFIC_ROLES,
    WINDOW,
    batched,
    compact,
    figures,
    read_figures,
    read_targets,
    role_query,
    traffic,
)
from moneypath.map.graph import EdgeSignal, MapEdge, MoneyPathMap
from moneypath.map.marks import MapHealth, Mark, State, worst
from moneypath.map.objectives import SloReading, judge
from moneypath.map.reads import Read, raw_reads, reads, reads_signal, recordings_of
from moneypath.map.scrape_health import NotDataFinder, edge_problem, query_of, read_targets_health


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


# ---------------------------------------------------------------- SLOs


def shortest_window() -> str:
    return min(SLI_WINDOWS, key=duration_seconds)


def read_slos(prom: Prometheus, graph: MoneyPathMap, at: float) -> list[SloReading]:
    """Every catalog SLO with its recorded error ratio over the shortest SLI window (one query for all)."""
    slos = [(service, key, slo) for service, catalog in graph.catalogs.items() for key, slo in catalog.slos.items()]
    if not slos:
        return []
    record = sli_error_record(shortest_window())
    ratios = {}
    for sample in prom.instant(record, at):
        value = float(sample["value"][1])
        if math.isfinite(value):
            ratios[sample["metric"].get("slo")] = value
    readings = []
    for service, key, slo in slos:
        signal = slo.sli.latency.signal if slo.sli.latency else slo.total.signal if slo.total else None
        if signal is not None:
            readings.append(SloReading(service, key, signal, None if slo.sli.latency else slo.total,
                                       slo.error_budget, ratios.get(key), f'{record}{{slo="{key}"}}'))
    return readings


# ---------------------------------------------------------------- states


def edge_hits(edge: MapEdge, firing: list[Firing], calls: str | None) -> list[tuple[Firing, Hit]]:
    """The firing alerts shown on an edge: those reading one of its signals, and those firing for the provider of
    the node it reaches (`calls`: its circuit breaker open, read from a signal no edge declares)."""
    hits = [(f, Hit(f.name, f.severity, f.describe(), f"reading {s.metric}")) for f in firing for s in edge.signals
            if f.reads_signal(s)]
    hits += [(f, Hit(f.name, f.severity, f.describe(), f"for {calls}, which this edge calls")) for f in firing
             if calls is not None and f.labels.get("provider") == calls and all(f is not g for g, _ in hits)]
    return hits


@dataclass
class Readings:
    """What one read of Prometheus returned, for every edge."""

    groups: list
    values: dict[tuple[str, str], float]
    slos: list[SloReading]
    seen: dict[str, set[tuple[str, str]]]
    targets: dict
    not_data: dict[tuple[str, str], str]


def edge_reading(graph: MoneyPathMap, edge: MapEdge, got: Readings, hits: list[Hit], at: float,
                 window: str) -> EdgeReading:
    seen = got.seen.get(edge.id, set())
    suspect, dead = edge_problem(seen, got.targets, at, got.not_data)
    return EdgeReading(
        metrics=tuple(s.metric for s in edge.signals),
        figures=() if suspect or dead else figures(edge, got.values),
        any_data=bool(seen) or any(key[0] == edge.id for key in got.values),
        traffic_signal=any(edge.signal(role) for role in TRAFFIC_ROLES),
        traffic=traffic(edge, got.values),
        hits=tuple(hits), not_data=suspect, dead=dead,
        objectives=tuple(judge(edge, graph.catalogs.get(edge.service), got.slos, got.values,
                               duration_seconds(window))),
        window=window)


def node_marks(graph: MoneyPathMap, edges: dict[str, Mark], firing: list[Firing]) -> dict[str, Mark]:
    """Each node: the worst state of its edges (a measured one over a silent one), and of the alerts naming its
    provider; grey when nothing is measured on it."""
    marks = {}
    for node in graph.nodes.values():
        touching = [(e.id, edges[e.id]) for e in graph.edges if node.id in (e.source, e.target)]
        own = [f for f in firing if node.provider is not None and f.labels.get("provider") == node.provider]
        candidates = [(m.state, f"edge {eid}: {m.why}" if m.why.startswith(m.state.value) else
                       f"edge {eid} {m.state.value}: {m.why}") for eid, m in touching]
        candidates += [(SEVERITIES[f.severity], f"{f.severity} alert {f.describe()} fires for its provider")
                       for f in own]
        alerts = tuple(dict.fromkeys([*(a for _, m in touching for a in m.alerts), *(f.name for f in own)]))
        state = worst(c[0] for c in candidates)
        if not candidates:
            marks[node.id] = Mark(State.GREY, why=not_measured("no edge touches this node"))
        elif state is State.GREY:
            marks[node.id] = Mark(State.GREY, why=not_measured("none of its edges is measured"), alerts=alerts)
        else:
            marks[node.id] = Mark(state, why=next(why for s, why in candidates if s is state), alerts=alerts)
    return marks


def all_grey(graph: MoneyPathMap, why: str, at: float, source: str) -> MapHealth:
    """Every element not measured because Prometheus did not answer; the page says so (`answered`, `problem`)."""
    mark = Mark(State.GREY, why=not_measured(why))
    return MapHealth(nodes={n: mark for n in graph.nodes}, edges={e.id: mark for e in graph.edges}, at=at,
                     source=source, answered=False, problem=why)


def read_health(graph: MoneyPathMap, prometheus_url: str, *, timeout_s: float = 5.0, window: str = WINDOW,
                not_data: NotDataFinder | None = None) -> MapHealth:
    """The map's marks read from the Prometheus at `prometheus_url` now; every element grey, with the reason,
    when it cannot be read (each request bounded by `timeout_s`). `window`: the figures' rate window and the one
    traffic must be seen in. `not_data`: finds the targets whose counters are not data (given the instant query),
    e.g. moneypath.check.counter_resets.find over the catalogs' counters."""
    at = time.time()
    source = prometheus_url.rstrip("/")
    try:
        with Prometheus(prometheus_url, timeout_s=timeout_s) as prom:
            got = Readings(groups=prom.get("/api/v1/rules")["groups"], values=read_figures(prom, graph, window, at),
                           slos=read_slos(prom, graph, at), seen=read_targets(prom, graph, window, at),
                           targets=read_targets_health(prom, at), not_data={})
            if not_data is not None:
                got.not_data = {(t.job, t.instance): t.reason() for t in not_data(query_of(prom, at))}
    except PrometheusError as exc:
        return all_grey(graph, str(exc), at, source)
    firing = firing_alerts(got.groups)
    edges, placed = {}, set()
    for edge in graph.edges:
        hits = edge_hits(edge, firing, graph.nodes[edge.target].provider)
        placed |= {id(f) for f, _ in hits}
        edges[edge.id] = decide(edge_reading(graph, edge, got, [h for _, h in hits], at, window))
    unplaced = tuple(dict.fromkeys(f.describe() for f in firing if f.severity == "page" and id(f) not in placed))
    return MapHealth(nodes=node_marks(graph, edges, firing), edges=edges, at=at, source=source, answered=True,
                     unplaced=unplaced)


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
                     at=data.get("at"), source=data.get("source", ""), answered=data.get("answered"),
                     problem=data.get("problem", ""), unplaced=tuple(data.get("unplaced", ())))
