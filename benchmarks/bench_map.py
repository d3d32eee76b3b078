"""What drawing a large money-path map costs: a synthetic map of 50 nodes and 100 edges (figures, not pass/fail).

    .venv/bin/python benchmarks/bench_map.py [--nodes 50] [--edges 100] [--rounds 5] [--services 3]

The map is built in memory (MapNode/MapEdge, every kind, several services joined, PCI scope, compliance notes,
health marks on every element so the figures and colours are drawn too): the time is Graphviz dot's layout plus
drawing the SVG and the HTML page (moneypath.map.page.render_page), median of --rounds. Goal: under 2 s
(issue 71); the ratio to it is printed. docs/decisions/0022-money-path-map-layout.md quotes the figure.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from moneypath.catalog.money_path import MOVEMENTS, NODE_KINDS  # noqa: E402
from moneypath.map.graph import MapEdge, MapNode, MoneyPathMap  # noqa: E402
from moneypath.map.marks import MapHealth, Mark, State  # noqa: E402
from moneypath.map.page import render_page  # noqa: E402

GOAL_S = 2.0


def synthetic_map(n_nodes: int, n_edges: int, n_services: int, seed: int = 71) -> tuple[MoneyPathMap, MapHealth]:
    """Nodes of every kind spread over the services; each node after the first receives an edge from an earlier
    one (money reaches everything), the rest random forward edges; a mark on every element."""
    rng = random.Random(seed)
    services = tuple(f"svc{i}" for i in range(n_services))
    graph = MoneyPathMap(services=services)
    ids = []
    for i in range(n_nodes):
        service, kind = services[i % n_services], NODE_KINDS[i % len(NODE_KINDS)]
        node = MapNode(id=f"{service}/n{i}", service=service, key=f"n{i}", kind=kind, label=f"{kind} {i}",
                       pci=("process", "transmit") if i % 5 == 0 else (), region="eu-west-1" if i % 7 == 0 else None,
                       kyc="payouts above 1,000 need a verified merchant" if i % 11 == 0 else None,
                       source=i == 0)
        graph.nodes[node.id] = node
        ids.append(node.id)
    pairs = [(ids[rng.randrange(i)], ids[i]) for i in range(1, n_nodes)]
    while len(pairs) < n_edges:
        a, b = sorted(rng.sample(range(n_nodes), 2))
        pairs.append((ids[a], ids[b]))
    health = MapHealth(at=time.time(), source="synthetic")
    states = list(State)
    for index, (source, target) in enumerate(pairs):
        service = graph.nodes[source].service
        edge = MapEdge(id=f"{service}#{index}", service=service, index=index, source=source, target=target,
                       movement=MOVEMENTS[index % len(MOVEMENTS)], label=MOVEMENTS[index % len(MOVEMENTS)])
        graph.edges.append(edge)
        health.edges[edge.id] = Mark(states[index % 4], figures=(f"{rng.uniform(1, 300):.1f}/s",
                                                                 f"errors {rng.uniform(0, 5):.1f} %"))
    for node_id in ids:
        health.nodes[node_id] = Mark(states[rng.randrange(4)])
    return graph, health


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--edges", type=int, default=100)
    parser.add_argument("--services", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    graph, health = synthetic_map(args.nodes, args.edges, args.services)
    times, size = [], 0
    for _ in range(args.rounds):
        start = time.perf_counter()
        page = render_page(graph, health=health, highlight=(graph.edges[0].id,))
        times.append(time.perf_counter() - start)
        size = len(page)
    median = statistics.median(times)
    print(f"map of {len(graph.nodes)} nodes, {len(graph.edges)} edges, {len(graph.services)} services: "
          f"layout + SVG + page median {median:.3f} s over {args.rounds} rounds "
          f"(min {min(times):.3f} s, max {max(times):.3f} s; page {size / 1024:.0f} KiB)")
    print(f"goal < {GOAL_S:.0f} s: {median / GOAL_S:.2f} of it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
