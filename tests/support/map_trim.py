"""A catalog's `money_path:` cut down to the signals it still has, as a team switching a feature off edits its map
(and as `moneypath init` scaffolds one without the feature): a signal whose feature is off or that is no longer
declared leaves its edge, an edge left with no signal goes, and so does a node no edge reaches or leaves."""

from __future__ import annotations

from moneypath.catalog.features import SIGNAL_FEATURE
from moneypath.catalog.money_path import split_reference
from moneypath.catalog.terms import parse_selector


def trim_money_path(data: dict) -> dict:
    """`data` (a catalog as loaded from YAML), its map trimmed in place; returned for chaining."""
    section = data.get("money_path")
    if not section:
        return data
    off = {name for name, on in (data.get("features") or {}).items() if on is False}

    def declared(selector: str) -> bool:
        key = parse_selector(selector).signal
        return key in data.get("signals", {}) and SIGNAL_FEATURE.get(key) not in off

    edges = []
    for edge in section["edges"]:
        signals = {role: s for role, s in (edge.get("signals") or {}).items() if declared(s)}
        if signals or not edge.get("signals"):
            edges.append({**edge, "signals": signals})
    ends = [split_reference(e[end]) for e in edges for end in ("from", "to")]
    used = {node for service, node in ends if service in (None, data.get("service"))}
    section["edges"] = edges
    section["nodes"] = {key: node for key, node in section["nodes"].items() if key in used}
    return data
