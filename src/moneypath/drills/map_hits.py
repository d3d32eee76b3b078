"""Which edges of the money-path map a drill's fault hit, and which edges an alert reads.

One mechanism for every fault, never a table per drill:
- an alert reads an edge when its expression, recording rules written in (moneypath.check.inline), selects one
  of the edge's signals with matchers that can select the same series: both sides' matchers on a label must
  admit one of the label's declared values. An alert's own labels (the drill's expected `labels:`) narrow it:
  `SettlementMismatch{provider: globex}` reads the globex settlement edge, not acme's;
- a fault hits the edges of its target (a provider: `MoneyPathMap.edges_touching_provider`; another target, a
  queue: the edges whose signals carry that label value) and the edges its expected alerts read;
- a fault of the team's own service (or a hook) that neither reaches: the edges money enters the service by.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from moneypath.catalog import Catalog
from moneypath.check.inline import Inliner
from moneypath.check.promql import _MATCHER, _SELECTOR, _STRING, selected_series
from moneypath.formats.fault_specs import fault_specs
from moneypath.generate.rules import alert_rules, recording_rules
from moneypath.map.graph import MapEdge, MoneyPathMap

Matcher = tuple[str, str, str]  # label, op, value
HISTOGRAM_SUFFIXES = ("", "_bucket", "_count", "_sum")
INLINE_STEP = "1m"  # the subquery step the inliner writes; only the series selected matter here


@dataclass(frozen=True)
class Selection:
    metric: str
    matchers: tuple[Matcher, ...] = ()


def selections(expr: str) -> list[Selection]:
    """The series an expression selects, each with its matchers (a bare name: none)."""
    text = _STRING.sub(lambda m: m[0] if m[0].startswith('"') else '""', expr)
    out: list[Selection] = []
    braced = {}
    for name, body in _SELECTOR.findall(text):
        braced.setdefault(name, []).append(tuple(_MATCHER.findall(body)))
    for name in selected_series(expr):
        for matchers in braced.get(name, []):
            out.append(Selection(name, matchers))
        if name not in braced or re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])(?!\s*\{{)", text):
            out.append(Selection(name))
    return out


class AlertReads:
    """Every generated alert of a catalog → the series its rules select, recording rules written in."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        recording = [r for g in recording_rules(catalog)["groups"] for r in g["rules"]]
        inliner = Inliner.from_rules(recording)
        self.selected: dict[str, list[Selection]] = {}
        self.severity: dict[str, str] = {}
        for group in alert_rules(catalog)["groups"]:
            for rule in group["rules"]:
                name = str(rule["alert"])
                self.selected.setdefault(name, []).extend(selections(inliner.expand(str(rule["expr"]), INLINE_STEP)))
                if self.severity.get(name) != "page":
                    self.severity[name] = str(rule["labels"].get("severity", "ticket"))
        # full metric name (histogram series too) → the signal key
        self.keys = {f"{s.name}{suffix}": key for key, s in catalog.signals.items()
                     for suffix in (HISTOGRAM_SUFFIXES if s.type == "histogram" else ("",))}

    def name(self, alert: str) -> str | None:
        """The generated alert's name for a name as a drill writes it (with or without the catalog's prefix)."""
        for candidate in (alert, f"{self.catalog.alert_prefix}{alert}"):
            if candidate in self.selected:
                return candidate
        return None

    def reads(self, edge: MapEdge, alert: str, labels: Mapping[str, str] | None = None) -> list[str]:
        """The roles of the edge's signals the alert reads ([]: none); `labels` the alert's own, narrowing it."""
        name = self.name(alert)
        if name is None or edge.service != self.catalog.service:
            return []
        found = []
        for signal in edge.signals:
            declared = self.declared(signal.key)
            wanted = tuple((m.label, m.op, m.value) for m in signal.selector.matchers)
            for sel in self.selected[name]:
                if self.keys.get(sel.metric) != signal.key:
                    continue
                own = tuple((k, "=", str(v)) for k, v in (labels or {}).items() if k in declared)
                if _compatible((*sel.matchers, *own, *wanted), declared):
                    found.append(signal.role)
                    break
        return found

    def declared(self, key: str) -> dict[str, list[str]]:
        signal = self.catalog.signals.get(key)
        return {k: list(v) for k, v in signal.labels.items()} if signal else {}


def _admits(op: str, value: str, actual: str) -> bool:
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    try:
        hit = re.fullmatch(value, actual) is not None
    except re.error:
        return True  # RE2 syntax Python does not read: assume it may select
    return hit if op == "=~" else not hit


def _compatible(matchers: Iterable[Matcher], declared: Mapping[str, Sequence[str]]) -> bool:
    """Whether one series can satisfy every matcher: per label, some declared value ("other" and absent too) that
    each matcher on it admits. A label the catalog does not declare: only two different `=` values conflict."""
    by_label: dict[str, list[tuple[str, str]]] = {}
    for label, op, value in matchers:
        by_label.setdefault(label, []).append((op, value))
    for label, ms in by_label.items():
        values = declared.get(label)
        if values:
            if not any(all(_admits(op, v, actual) for op, v in ms) for actual in (*values, "other", "")):
                return False
        elif len({v for op, v in ms if op == "="}) > 1:
            return False
    return True


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
                    label in reads.declared(s.key) and _compatible(
                        ((label, "=", str(fault.target)), *((m.label, m.op, m.value) for m in s.selector.matchers)),
                        reads.declared(s.key)) for s in edge.signals):
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
