"""What the map's tests share: a second catalog to join with the reference one, and a layout without Graphviz for
the unit tier (which starts no process; the real `dot` runs in tests/integration/map)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from moneypath.map.layout import Box, BoxSpec, EdgePath, EdgeSpec, Layout
from tests.conftest import ROOT

FOREIGN_PATH = ROOT / "tests" / "foreign" / "moneypath.yaml"

# The ticket shop's money path, one edge crossing into the reference service (`payments/payments`).
TICKETS_MONEY_PATH = """
money_path:
  nodes:
    buyer: {kind: funding, label: ticket buyer}
    tickets: {kind: service, label: ticket shop, pci: [transmit], region: ap-northeast-1}
    komoju: {kind: provider, provider: komoju, jurisdiction: JP payment agent}
  edges:
    - from: buyer
      to: tickets
      movement: authorize
      signals: {rate: authorizations_total}
    - from: tickets
      to: komoju
      movement: authorize
      signals: {rate: 'provider_requests_total{provider="komoju"}'}
    - from: tickets
      to: payments/payments
      movement: transfer
      label: platform fee
      signals: {rate: ledger_writes_total}
"""
CROSSING_EDGE = "tickets#2"  # tickets → payments/payments


def without_money_path(text: str) -> str:
    """A catalog's text without its top-level `money_path:` section (the ticket shop may declare its own)."""
    return re.sub(r"(?ms)^money_path:.*?(?=^\S|\Z)", "", text)


def tickets_catalog(directory: Path) -> Path:
    """tests/foreign's ticket shop catalog with TICKETS_MONEY_PATH, written into `directory`."""
    path = directory / "moneypath.yaml"
    path.write_text(without_money_path(FOREIGN_PATH.read_text()).rstrip("\n") + "\n" + TICKETS_MONEY_PATH)
    return path


def grid_layout(boxes: Sequence[BoxSpec], edges: Sequence[EdgeSpec], **_) -> Layout:
    """Boxes in columns by their longest distance from a box nothing reaches; straight edges; a frame around each
    cluster's boxes. Enough to test what the renderer draws, not how dot places it."""
    rank = {b.id: 0 for b in boxes}
    for _ in range(len(boxes)):
        for e in edges:
            rank[e.target] = max(rank[e.target], min(rank[e.source] + 1, len(boxes)))
    column_w = max(b.width for b in boxes) + max((e.label_width for e in edges), default=0) + 40
    placed, heights = {}, {}
    for b in boxes:
        r = rank[b.id]
        y = heights.get(r, 0.0)
        placed[b.id] = Box(r * column_w, y, b.width, b.height)
        heights[r] = y + b.height + 30
    paths = {}
    for e in edges:
        s, t = placed[e.source], placed[e.target]
        start, end = (s.x + s.width, s.cy), (t.x - 8, t.cy)
        paths[e.id] = EdgePath(points=(start, start, end, end), head=(t.x, t.cy),
                               label=((start[0] + end[0]) / 2, (start[1] + end[1]) / 2) if e.label_width else None)
    clusters: dict[str, Box] = {}
    for b in boxes:
        if b.cluster is not None:
            p = placed[b.id]
            c = clusters.get(b.cluster, Box(p.x - 10, p.y - 20, p.width + 20, p.height + 30))
            x0, y0 = min(c.x, p.x - 10), min(c.y, p.y - 20)
            x1, y1 = max(c.x + c.width, p.x + p.width + 10), max(c.y + c.height, p.y + p.height + 10)
            clusters[b.cluster] = Box(x0, y0, x1 - x0, y1 - y0)
    width = max(p.x + p.width for p in placed.values())
    height = max(p.y + p.height for p in placed.values())
    return Layout(width=width, height=height, boxes=placed, edges=paths, clusters=clusters)
