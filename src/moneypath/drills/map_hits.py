"""Which edges of the money-path map a drill's fault hit, and which edges an alert reads.

One mechanism for every fault, never a table per drill:
- an alert reads an edge when its expression, recording rules expanded, selects one of the edge's signals with
  matchers that can select the same series (moneypath.map.reads, as the live map judges it). An alert's own
  labels (the drill's expected `labels:`) narrow it:
  `SettlementMismatch{provider: globex}` reads the globex settlement edge, not acme's;
- a fault hits the edges of its target (a provider: `MoneyPathMap.edges_touching_provider`; another target, a
  queue: the edges whose signals carry that label value) and the edges its expected alerts read;
- a fault of the team's own service (or a hook) that neither reaches: the edges money enters the service by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from moneypath.catalog import Catalog
from moneypath.formats.fault_specs import fault_specs
from moneypath.generate.rules import alert_rules, recording_rules
from moneypath.map.graph import MapEdge, MoneyPathMap
from moneypath.map.reads import AlertRule, agrees, alerting_rules


class AlertReads:
    """Every generated alert of a catalog → its rules (moneypath.map.reads: what each reads, recording rules
    expanded)."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        groups = [*recording_rules(catalog)["groups"], *alert_rules(catalog)["groups"]]
        self.rules: dict[str, list[AlertRule]] = {}
        self.severity: dict[str, str] = {}
        for rule in alerting_rules(groups):
            self.rules.setdefault(rule.name, []).append(rule)
            if self.severity.get(rule.name) != "page":
                self.severity[rule.name] = rule.severity or "ticket"

    def name(self, alert: str) -> str | None:
        """The generated alert's name for a name as a drill writes it (with or without the catalog's prefix)."""
        for candidate in (alert, f"{self.catalog.alert_prefix}{alert}"):
            if candidate in self.rules:
                return candidate
        return None

    def reads(self, edge: MapEdge, alert: str, labels: Mapping[str, str] | None = None) -> list[str]:
        """The roles of the edge's signals the alert reads ([]: none); `labels` the alert's own, narrowing it."""
        name = self.name(alert)
        if name is None or edge.service != self.catalog.service:
            return []
        return [s.role for s in edge.signals if any(r.reads_signal(s, labels) for r in self.rules[name])]

    def declared(self, key: str) -> dict[str, list[str]]:
        signal = self.catalog.signals.get(key)
        return {k: list(v) for k, v in signal.labels.items()} if signal else {}


@dataclass(frozen=True)
class Fault:
    """What the report and the tests know of a drill's fault: where, its name, its target (None: none)."""
    where: str | None
    name: str | None
    target: str | None = None


def target_label(fault: Fault, catalog: Catalog) -> str | None:
    """The label the fault's target is a value of: the fault API's own word (provider, queue), else "provider"
    for a hook whose target is one of the catalog's providers."""
    if fault.target is None or fault.where is None:
        return None
    if fault.where != "hook":
        spec = fault_specs(fault.where, catalog).get(fault.name or "")
        if spec is not None and spec.target:
            return spec.target
    return "provider" if fault.target in catalog.providers else None


def hit_edges(graph: MoneyPathMap, reads: AlertReads, fault: Fault,
              expected: Sequence[tuple[str, Mapping[str, str] | None]]) -> dict[str, str]:
    """Edge id → why the fault hit it, in the map's order; {} for a drill without a fault."""
    if fault.where is None:
        return {}
    catalog = reads.catalog
    why: dict[str, list[str]] = {}
    label = target_label(fault, catalog)
    if label == "provider":
        for edge in graph.edges_touching_provider(str(fault.target)):
            why.setdefault(edge.id, []).append(f"the fault's target, provider {fault.target}")
    elif label is not None:
        for edge in graph.edges:
            if edge.service == catalog.service and any(
                    label in reads.declared(s.key) and agrees(s.selector.matchers, {label: str(fault.target)})
                    for s in edge.signals):
                why.setdefault(edge.id, []).append(f"its signals carry {label}={fault.target}, the fault's target")
    for alert, labels in expected:
        for edge in graph.edges:
            roles = reads.reads(edge, alert, labels)
            if roles:
                why.setdefault(edge.id, []).append(f"{reads.name(alert)} reads its {', '.join(roles)} signal")
    if not why and fault.where in ("service", "hook"):
        own = {n.id for n in graph.nodes.values()
               if n.kind == "service" and n.service == catalog.service and not n.external}
        for edge in graph.edges:
            if edge.target in own and edge.source not in own:
                why.setdefault(edge.id, []).append(
                    f"the fault acts inside {graph.nodes[edge.target].label} and no expected alert reads an edge: "
                    "money enters it here")
    return {e.id: "; ".join(why[e.id]) for e in graph.edges if e.id in why}
