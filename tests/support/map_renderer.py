"""A stand-in for the money-path map's renderer in unit tests: moneypath.map.render lays the map out with Graphviz
dot, a process, which the unit tier does not start. It keeps the renderer's contract (every node a
`<g class="node" data-node=...>`, every edge a `<g class="edge" data-edge=...>`, the highlighted ones marked
`data-highlight="true"`), so a report's or a pack's map section is tested without dot; the integration tier
draws with the real one."""

from __future__ import annotations

import re
from html import escape


def _render_svg(graph, health=None, highlight=(), title=None) -> str:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="200"><title>{escape(title or "")}</title>']
    for node in graph.nodes.values():
        pci = " ".join(node.pci)
        hit = ' data-highlight="true"' if node.id in highlight else ""
        parts.append(f'<g class="node" data-node="{escape(node.id)}"{hit} data-pci="{escape(pci)}">'
                     f"<text>{escape(node.label)}</text></g>")
    for edge in graph.edges:
        mark = health.edges.get(edge.id) if health else None
        state = mark.state.value if mark else "grey"
        alerts = " ".join(mark.alerts) if mark else ""
        hit = ' data-highlight="true"' if edge.id in highlight else ""
        parts.append(f'<g class="edge" data-edge="{escape(edge.id)}"{hit} data-state="{state}" '
                     f'data-alerts="{escape(alerts)}"></g>')
    return "".join(parts) + "</svg>"


def stand_in(monkeypatch) -> None:
    """Draw with the stand-in for the rest of the test."""
    monkeypatch.setattr("moneypath.map.render.render_svg", _render_svg)


def highlighted(tag: str) -> bool:
    """An element's opening tag drawn as "the fault hit here" (moneypath.map.render marks it data-highlight)."""
    return re.search(r'\bdata-highlight="true"', tag) is not None
