"""The lint's rules for the catalog's money-path map (`money_path:`), one line each ``file:line: key: what is wrong``:

- an edge with no signal: drawn, but nothing can say whether money moves along it;
- a provider of the catalog that no node names: a dependency missing from the picture;
- a node of the team's own (a service, store, queue, ledger or settlement files) in PCI scope while the catalog
  lacks the card-number guard signal (card_numbers_total declared and its feature on): the scope is declared but
  nothing shows card numbers are kept out of where they must not go. Third parties (funding sources, providers,
  acquirers, payout rails, banks, merchants) carry their own PCI compliance: their scope is drawn, not linted.

A catalog without the section is not measured for these rules (`not_declared`): the section is optional, and a
catalog written before it lints as it did.
"""

from __future__ import annotations

from moneypath._common.verdict import not_measured
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import Key
from moneypath.catalog.money_path import SIGNAL_ROLES

OWN_KINDS = ("service", "store", "queue", "ledger", "settlement")
GUARD = Key.CARD_NUMBERS_TOTAL


def not_declared(catalog: Catalog) -> str | None:
    """Why the map rules judged nothing (the catalog declares no `money_path:`), or None when they ran."""
    if catalog.money_path is not None:
        return None
    return not_measured("the catalog declares no money_path: section, so the map rules did not run (a new "
                        "`moneypath init` project has one; see docs/map.md)")


def map_problems(catalog: Catalog) -> list[str]:
    """Every problem the map rules find, one line each; none for a catalog without the section."""
    section = catalog.money_path
    if section is None:
        return []
    problems = []
    for i, edge in enumerate(section.edges):
        if not edge.signals:
            problems.append(f"{catalog.located('money_path', 'edges', i)}: money_path.edges.{i}: the edge from "  # type: ignore[arg-type]
                            f"{edge.source} to {edge.target} has no signal: name one that shows its health under signals: "
                            f"({', '.join(SIGNAL_ROLES)})")
    named = {node.provider for node in section.nodes.values() if node.provider is not None}
    for provider in catalog.providers:
        if provider not in named:
            problems.append(f"{catalog.located('money_path', 'nodes')}: money_path.nodes: provider {provider!r} of the "
                            f"catalog is on no node of the map: add one, e.g. {provider}: {{kind: provider, "
                            f"provider: {provider}}}")
    if not catalog.has(GUARD):
        for key, node in section.nodes.items():
            if node.pci and node.kind in OWN_KINDS:
                problems.append(f"{catalog.located('money_path', 'nodes', key, 'pci')}: money_path.nodes.{key}.pci: "
                                f"in PCI scope ({', '.join(node.pci)}) but the catalog has no card-number guard "
                                f"signal: declare {GUARD} (counter; labels source, action) and count the card "
                                "numbers found in input")
    return problems
