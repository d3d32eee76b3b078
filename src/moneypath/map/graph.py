"""The money-path map as one graph: the `money_path:` sections of one or more catalogs joined, each node named
`service/node`, each edge with its signals as PromQL selectors of full metric names. Layout (layout.py), live
colours (live_health.py) and every reader (drill reports, the evidence pack, the dashboard) start from here.

Given one catalog, an edge to another service's node (`orders/checkout`) is drawn to a stub of that node; given
several, every such reference must name a catalog given and a node of its section."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from moneypath.catalog.model import Catalog, CatalogError
from moneypath.catalog.money_path import split_reference
from moneypath.catalog.terms import Selector, parse_selector


@dataclass(frozen=True)
class MapNode:
    id: str  # service/node
    service: str
    key: str
    kind: str
    label: str
    provider: str | None = None
    pci: tuple[str, ...] = ()
    kyc: str | None = None
    region: str | None = None
    jurisdiction: str | None = None
    source: bool = False
    external: bool = False  # a stub: another service's node, that service's catalog not given


@dataclass(frozen=True)
class EdgeSignal:
    role: str  # rate, errors, latency, lag, depth (moneypath.catalog.money_path.SIGNAL_ROLES)
    key: str  # the catalog signal key
    metric: str  # its full metric name
    selector: Selector  # as written in the catalog (signal key and matchers)

    @property
    def promql(self) -> str:
        """The selector over the full metric name: `moneypath_authorizations_total{outcome=~"error|timeout"}`."""
        inner = ",".join(f'{m.label}{m.op}"{m.value}"' for m in self.selector.matchers)
        return f"{self.metric}{{{inner}}}" if inner else self.metric


@dataclass(frozen=True)
class MapEdge:
    id: str  # service#index in its catalog's edge list
    service: str
    index: int
    source: str  # node id
    target: str
    movement: str
    label: str
    signals: tuple[EdgeSignal, ...] = ()
    catalog_path: str = ""

    def signal(self, role: str) -> EdgeSignal | None:
        return next((s for s in self.signals if s.role == role), None)


@dataclass
class MoneyPathMap:
    nodes: dict[str, MapNode] = field(default_factory=dict)
    edges: list[MapEdge] = field(default_factory=list)
    services: tuple[str, ...] = ()
    catalogs: dict[str, Catalog] = field(default_factory=dict)  # service → its catalog

    def edge(self, edge_id: str) -> MapEdge:
        return next(e for e in self.edges if e.id == edge_id)

    def provider_nodes(self, provider: str) -> list[MapNode]:
        return [n for n in self.nodes.values() if n.provider == provider]

    def edges_touching_provider(self, provider: str) -> list[MapEdge]:
        """The edges to or from the provider's nodes, and those whose signals select that provider."""
        ids = {n.id for n in self.provider_nodes(provider)}
        return [e for e in self.edges if e.source in ids or e.target in ids
                or any(m.label == "provider" and m.op == "=" and m.value == provider
                       for s in e.signals for m in s.selector.matchers)]


def build_map(catalogs: Sequence[Catalog]) -> MoneyPathMap:
    """The joined map of the catalogs' `money_path:` sections; CatalogError with one line per problem (a
    catalog without the section, two catalogs of one service, a reference to an unknown service or node)."""
    problems: list[str] = []
    by_service: dict[str, Catalog] = {}
    for catalog in catalogs:
        if catalog.money_path is None:
            problems.append(f"{catalog.located()}: money_path: this catalog declares no money path (`moneypath init "
                            "--money-path` scaffolds one from its providers and features)")
        elif catalog.service in by_service:
            problems.append(f"{catalog.located('service')}: service: {catalog.service!r} is also the service of "
                            f"{by_service[catalog.service].path}; join one catalog per service")
        else:
            by_service[catalog.service] = catalog
    if problems:
        raise CatalogError(problems)
    joined = len(by_service) > 1
    graph = MoneyPathMap(services=tuple(by_service), catalogs=by_service)
    for service, catalog in by_service.items():
        for key, node in catalog.money_path.nodes.items():  # type: ignore[union-attr]
            graph.nodes[f"{service}/{key}"] = MapNode(
                id=f"{service}/{key}", service=service, key=key, kind=node.kind, label=node.label or key,
                provider=node.provider, pci=tuple(node.pci), kyc=node.kyc, region=node.region,
                jurisdiction=node.jurisdiction, source=node.is_source)
    for service, catalog in by_service.items():
        for index, edge in enumerate(catalog.money_path.edges):  # type: ignore[union-attr]
            ends = []
            for field_name, end in (("from", edge.source), ("to", edge.target)):
                ref_service, key = split_reference(end)  # type: ignore[misc]
                node_id = f"{ref_service or service}/{key}"
                if node_id not in graph.nodes:
                    line = catalog.located("money_path", "edges", index, field_name)  # type: ignore[arg-type]
                    where = f"{line}: money_path.edges.{index}.{field_name}"
                    if joined and ref_service not in by_service:
                        problems.append(f"{where}: {ref_service!r} is not the service of any catalog joined "
                                        f"({', '.join(by_service)})")
                    elif joined or ref_service in (None, service):
                        problems.append(f"{where}: {key!r} is not a node of {ref_service or service}'s money path")
                    else:
                        graph.nodes[node_id] = MapNode(id=node_id, service=ref_service, key=key, kind="service",  # type: ignore[arg-type]
                                                       label=f"{ref_service}/{key}", external=True)
                ends.append(node_id)
            signals = tuple(_edge_signal(catalog, role, text) for role, text in edge.signals.items())
            graph.edges.append(MapEdge(id=f"{service}#{index}", service=service, index=index, source=ends[0],
                                       target=ends[1], movement=edge.movement,
                                       label=edge.label or edge.movement.replace("_", " "), signals=signals,
                                       catalog_path=catalog.path))
    if problems:
        raise CatalogError(problems)
    return graph


def _edge_signal(catalog: Catalog, role: str, text: str) -> EdgeSignal:
    selector = parse_selector(text)
    assert selector is not None, text  # the catalog's validation refused anything else
    return EdgeSignal(role=role, key=selector.signal, metric=catalog.metric(selector.signal), selector=selector)
