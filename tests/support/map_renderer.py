"""The money-path map's renderer for tests that draw a map: moneypath.map.render when it is installed, else a
stand-in with its contract (moneypath.map.render.render_svg: every node a `<g class="node" data-node=...>`,
every edge a `<g class="edge" data-edge=...>`, the highlighted ones marked), so a report's or a pack's map
section is tested whether or not the layout engine's module is in this tree."""

from __future__ import annotations

import importlib
import re
import sys
import types
from html import escape


def _render_svg(graph, health=None, highlight=(), title=None) -> str:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="200"><title>{escape(title or "")}</title>']
    for node in graph.nodes.values():
        pci = " ".join(node.pci)
        parts.append(f'<g class="node{" highlight" if node.id in highlight else ""}" data-node="{escape(node.id)}"'
                     f' data-pci="{escape(pci)}"><text>{escape(node.label)}</text></g>')
    for edge in graph.edges:
        mark = health.edges.get(edge.id) if health else None
        state = mark.state.value if mark else "grey"
        alerts = " ".join(mark.alerts) if mark else ""
        parts.append(f'<g class="edge {state}{" highlight" if edge.id in highlight else ""}" '
                     f'data-edge="{escape(edge.id)}" data-state="{state}" data-alerts="{escape(alerts)}"></g>')
    return "".join(parts) + "</svg>"


def ensure() -> bool:
    """True when the real renderer is there; else the stand-in is installed as moneypath.map.render."""
    try:
        importlib.import_module("moneypath.map.render")
        return True
    except ModuleNotFoundError:
        module = types.ModuleType("moneypath.map.render")
        module.render_svg = _render_svg
        sys.modules["moneypath.map.render"] = module
        return False


def highlighted(tag: str) -> bool:
    """An element the renderer drew as "the fault hit here" (its class or a data attribute says so)."""
    return re.search(r'class="[^"]*\b(highlight|hit)\b|data-(highlight|hit)="(true|1|hit)"', tag) is not None
