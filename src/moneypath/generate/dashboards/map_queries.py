"""The PromQL behind the money-path dashboard's Node Graph: one instant query for the nodes, one for the edges, each a
row per node or edge of `moneypath.map.graph.build_map` with the ids, titles and colour as labels.

An edge's state follows the live map's rules as far as PromQL can read them (moneypath.map.marks.State): red while a
paging alert whose expression reads one of its signals fires (ALERTS{alertstate="firing"}), amber while such a ticket
alert fires or an SLO whose SLI is made of one of its signals is beyond its objective over the freshest window the
rules record, green while any of its signals has a series, grey otherwise (not measured: never green on no data).
Which alerts read a signal is found in the generated rules as the live map finds it (moneypath.map.reads: recording
rules followed to the metrics they read, matchers that can select the signal's series); an alert whose labels name
another value of a label the signal selects (another provider) does not colour the edge.
A node takes the worst state of the edges touching it and, for a provider's node, of the alerts firing with its
provider label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from moneypath.catalog import Catalog, duration_seconds
from moneypath.catalog.conventions import SLI_WINDOWS, SLO_BUDGET_RECORD, sli_error_record
from moneypath.generate.dashboards.panels import RATE, slos_on
from moneypath.generate.rules import alert_rules, recording_rules
from moneypath.map.graph import EdgeSignal, MapEdge, MapNode, MoneyPathMap
from moneypath.map.marks import State
from moneypath.map.reads import AlertRule, alerting_rules, alerts_reading
from moneypath.map.shapes import COLOURS

# The drawn map's stroke colours (moneypath.map.shapes): the Node Graph takes a colour field's string as the stroke.
COLORS = {state: stroke for state, (stroke, _, _) in COLOURS.items()}
WORDS = {State.RED: "red", State.AMBER: "amber", State.GREEN: "green", State.GREY: "not measured"}
SEVERITY_STATE = {"page": State.RED, "ticket": State.AMBER}
# An SLI beyond its objective is read over the shortest window the rules record, as the live map reads it.
SLI_WINDOW = min(SLI_WINDOWS, key=duration_seconds)


@dataclass(frozen=True)
class AlertRead:
    """Alerts of one severity that read one signal of an edge."""

    state: State
    names: tuple[str, ...]
    signal: EdgeSignal


def _alert_reads(c: Catalog) -> list[AlertRule]:
    """Every generated alerting rule with what it reads (moneypath.map.reads, recording rules expanded)."""
    return alerting_rules([*recording_rules(c)["groups"], *alert_rules(c)["groups"]])


def edge_alerts(c: Catalog, edge: MapEdge, reads: list[AlertRule] | None = None) -> list[AlertRead]:
    """Per signal of the edge and severity (page or ticket: the watchdog's `none` colours nothing), the alerts whose
    expression reads that signal, as the live map judges it."""
    reads = _alert_reads(c) if reads is None else reads
    out = []
    for signal in edge.signals:
        for severity, state in SEVERITY_STATE.items():
            names = sorted({r.name for r in alerts_reading(signal, reads) if r.severity == severity})
            if names:
                out.append(AlertRead(state, tuple(names), signal))
    return out


# ---------------------------------------------------------------- PromQL text


def text(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _replacement(value: str) -> str:
    """A label_replace replacement that is the value itself ($ doubled)."""
    return text(value.replace("$", "$$"))


def with_label(expr: str, label: str, value: str) -> str:
    return f'label_replace({expr}, "{label}", {_replacement(value)}, "", "")'


def _regex_literal(value: str) -> str:
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", value)


def _alert_matchers(signal: EdgeSignal) -> str:
    """The signal's = and =~ matchers as ALERTS matchers that also accept an alert without that label."""
    out = []
    for m in signal.selector.matchers:
        if m.op == "=":
            out.append(f'{m.label}=~"{_regex_literal(m.value)}|"')
        elif m.op == "=~":
            out.append(f'{m.label}=~"({m.value})|"')
    return "".join(f", {x}" for x in out)


def _selector(signal: EdgeSignal, c: Catalog) -> str:
    """The signal's series: a histogram's by its _count."""
    if c.signals[signal.key].type != "histogram":
        return signal.promql
    return signal.promql.replace(signal.metric, f"{signal.metric}_count", 1)


def _branch(expr: str, state: State, why: str, why_from: str = "") -> str:
    labelled = with_label(with_label(expr, "color", COLORS[state]), "state", WORDS[state])
    if why_from:
        return f'label_replace({labelled}, "secondarystat", {text(why)}, "{why_from}", "(.+)")'  # $1: that label
    return with_label(labelled, "secondarystat", why)


def edge_state(c: Catalog, edge: MapEdge, reads: list[AlertRule] | None = None) -> str:
    """One series for the edge: value 3 red, 2 amber, 1 green, 0 grey; labels color, state and secondarystat (why)."""
    branches = []
    alerts = edge_alerts(c, edge, reads)
    for state in (State.RED, State.AMBER):
        severity = next(k for k, v in SEVERITY_STATE.items() if v == state)
        by_matchers: dict[str, set[str]] = {}
        for a in alerts:
            if a.state == state:
                by_matchers.setdefault(_alert_matchers(a.signal), set()).update(a.names)
        anywhere = by_matchers.get("", set())  # read through a signal that selects nothing: no label narrows them
        selectors = [f'ALERTS{{alertstate="firing", severity="{severity}", alertname=~"{"|".join(sorted(kept))}"'
                     f"{matchers}}}" for matchers, names in sorted(by_matchers.items())
                     if (kept := names - anywhere if matchers else names)]
        if selectors:
            firing = f"max by (alertname) ({' or '.join(selectors)})"
            branches.append(_branch(f"{state.rank} * topk(1, {firing})", state, "$1 firing", "alertname"))
        if state == State.AMBER and (slos := slos_on(c, {s.key for s in edge.signals})):
            beyond = (f'{sli_error_record(SLI_WINDOW)}{{slo=~"{"|".join(slos)}"}} > on (slo) '
                      f'{SLO_BUDGET_RECORD}{{slo=~"{"|".join(slos)}"}}')
            branches.append(_branch(f"{state.rank} + 0 * topk(1, max by (slo) ({beyond}))", state,
                                    f"SLO $1 beyond its objective ({SLI_WINDOW})", "slo"))
    if edge.signals:
        present = " or ".join(_selector(s, c) for s in edge.signals)
        branches.append(_branch(f"{State.GREEN.rank} + 0 * count({present})", State.GREEN, "within"))
    branches.append(_branch(f"vector({State.GREY.rank})", State.GREY, "not measured: no series of its signals"
                            if edge.signals else "not measured: the edge names no signal"))
    return "max by (color, state, secondarystat) (" + "\nor on () ".join(branches) + ")"


def provider_state(provider: str) -> str:
    """A provider node's own state: the page (red) or ticket (amber) alerts firing with its provider label."""
    branches = [_branch(f'{state.rank} * topk(1, max by (alertname) (ALERTS{{alertstate="firing", severity="{sev}", '
                        f'provider={text(provider)}}}))', state, "$1 firing for its provider", "alertname")
                for sev, state in SEVERITY_STATE.items()]
    return "max by (color, state, secondarystat) (" + "\nor on () ".join(branches) + ")"


def edge_rate(c: Catalog, edge: MapEdge) -> str:
    """Its rate signal per second, NaN when it has none or no series (Grafana shows nothing)."""
    rate = edge.signal("rate")
    return f"(sum(rate({_selector(rate, c)}[{RATE}])) or on () vector(NaN))" if rate else "vector(NaN)"


def edges_query(c: Catalog, graph: MoneyPathMap, labels: tuple[str, ...] = ("color", "secondarystat")) -> str:
    """A row per edge: value its rate per second; labels id, source, target, detail__* and `labels` of its state
    (color, state, secondarystat)."""
    reads = _alert_reads(c)
    rows = []
    for edge in graph.edges:
        row = f"{edge_rate(c, edge)}\n+ on () group_left ({', '.join(labels)}) (0 * {edge_state(c, edge, reads)})"
        for label, value in (("id", edge.id), ("source", edge.source), ("target", edge.target),
                             ("detail__movement", edge.movement.replace("_", " ")), ("detail__label", edge.label)):
            row = with_label(row, label, value)
        rows.append(row)
    return "\nor\n".join(rows)


def node_subtitle(node: MapNode) -> str:
    parts = [node.kind.replace("_", " ")]
    if node.pci:
        parts.append("PCI " + ", ".join(node.pci))
    if node.external:
        parts.append("another service")
    return " · ".join(parts)


def nodes_query(c: Catalog, graph: MoneyPathMap) -> str:
    """A row per node: value its worst edge's state; labels id, title, subtitle, color, state (shown as the main
    stat), secondarystat (that edge's why) and detail__* (provider, PCI scope, KYC, region, jurisdiction)."""
    reads = _alert_reads(c)
    states = {edge.id: edge_state(c, edge, reads) for edge in graph.edges}
    rows = []
    for node in graph.nodes.values():
        touching = [states[e.id] for e in graph.edges if node.id in (e.source, e.target)]
        if node.provider:
            touching.append(provider_state(node.provider))
        grey = _branch(f"vector({State.GREY.rank})", State.GREY, "not measured: no edge touches it")
        row = f"topk(1, {' or '.join(f'({s})' for s in touching)})" if touching else grey
        details = {"id": node.id, "title": node.label, "subtitle": node_subtitle(node), "detail__provider": node.provider,
                   "detail__pci": ", ".join(node.pci), "detail__kyc": node.kyc, "detail__region": node.region,
                   "detail__jurisdiction": node.jurisdiction}
        for label, value in details.items():
            if value:
                row = with_label(row, label, value)
        rows.append(row)
    return "\nor\n".join(rows)


def alerts_on_map(c: Catalog, graph: MoneyPathMap) -> list[str]:
    """The names of the alerts that colour an edge of the map."""
    reads = _alert_reads(c)
    return sorted({name for edge in graph.edges for a in edge_alerts(c, edge, reads) for name in a.names})
