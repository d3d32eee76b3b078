"""The map's legend: every mark the map draws — each node kind present, a stub, a service's frame, PCI scope, the
compliance notes, the states (or "not live"), the highlight — with the swatch drawn as the map draws it. The
states' entries are generated from moneypath.map.marks.State: each state has one, with its meaning."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from moneypath._common.verdict import Outcome
from moneypath.catalog.money_path import NODE_KINDS
from moneypath.map.graph import MoneyPathMap
from moneypath.map.layout import Box
from moneypath.map.marks import ORDER, MapHealth
from moneypath.map.shapes import COLOURS, HIGHLIGHT, NEUTRAL, PCI, STATE_DASH, STUB_DASH, fmt, shape, text_width

KIND_TEXT = {
    "funding": "funding: where money comes from",
    "service": "service: one of the team's services",
    "provider": "provider: a payment provider",
    "acquirer": "acquirer: holds the merchant account",
    "ledger": "ledger: the books",
    "queue": "queue",
    "settlement": "settlement files",
    "payout_rail": "payout rail",
    "bank": "bank",
    "merchant": "merchant",
    "store": "store: a database",
}
ROW, SWATCH_W, SWATCH_H, GAP, SIZE, PAD = 20.0, 30.0, 14.0, 8.0, 10.0, 10.0


@dataclass(frozen=True)
class Item:
    text: str
    mark: str  # data-mark: what the entry explains ("kind:ledger", "state:red", "pci", ...); "" for a heading
    swatch: Callable[[float, float], str] | None = None  # draws at (x, y) top left, SWATCH_W × SWATCH_H

    @property
    def width(self) -> float:
        if self.swatch is None:
            return text_width(self.text, SIZE, bold=True)
        return SWATCH_W + GAP + text_width(self.text, SIZE)

    def draw(self, x: float, y: float) -> str:
        if self.swatch is None:
            return (f'<text class="legend-heading" x="{fmt(x)}" y="{fmt(y + 13)}" font-size="{fmt(SIZE)}" '
                    f'font-weight="bold" fill="#263238">{escape(self.text)}</text>')
        return (f'<g class="legend-entry" data-mark="{self.mark}">{self.swatch(x, y + 3)}'
                f'<text x="{fmt(x + SWATCH_W + GAP)}" y="{fmt(y + 14)}" font-size="{fmt(SIZE)}" '
                f'fill="#263238">{escape(self.text)}</text></g>')


def _line(colour: str, width: float = 1.5, dash: str | None = None, halo: str | None = None) -> Callable:
    def draw(x: float, y: float) -> str:
        mid = y + SWATCH_H / 2
        out = ""
        if halo:
            out += (f'<path d="M{fmt(x)},{fmt(mid)} h{fmt(SWATCH_W)}" stroke="{halo}" stroke-width="9" '
                    f'stroke-opacity="0.45" stroke-dasharray="8 4"/>')
        return out + (f'<path d="M{fmt(x)},{fmt(mid)} h{fmt(SWATCH_W - 6)}" stroke="{colour}" '
                      f'stroke-width="{fmt(width)}"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
                      f'<polygon points="{fmt(x + SWATCH_W)},{fmt(mid)} {fmt(x + SWATCH_W - 7)},{fmt(mid - 3.5)} '
                      f'{fmt(x + SWATCH_W - 7)},{fmt(mid + 3.5)}" fill="{colour}"/>')
    return draw


def _box(kind: str, stroke: str, fill: str, dash: str | None = None, outline: str | None = None,
         outline_dash: str | None = None) -> Callable:
    def draw(x: float, y: float) -> str:
        out = ""
        if outline:
            out += (f'<rect x="{fmt(x + 1)}" y="{fmt(y - 1)}" width="{fmt(SWATCH_W - 2)}" height="{fmt(SWATCH_H + 2)}" '
                    f'rx="3" fill="none" stroke="{outline}" stroke-width="{2.5 if outline_dash else 1.6}"'
                    + (f' stroke-dasharray="{outline_dash}"' if outline_dash else "") + "/>")
        return out + shape(kind, Box(x + 4, y + 2, SWATCH_W - 8, SWATCH_H - 4), stroke=stroke, fill=fill, width=1.2,
                           dash=dash)
    return draw


def _note(x: float, y: float) -> str:
    return (f'<text x="{fmt(x + SWATCH_W / 2)}" y="{fmt(y + 11)}" font-size="9" text-anchor="middle" '
            f'fill="#263238">KYC</text>')


@dataclass
class Legend:
    items: list[Item]

    @property
    def width_column(self) -> float:
        return max(i.width for i in self.items) + 2 * PAD

    @property
    def height_column(self) -> float:
        return len(self.items) * ROW + 2 * PAD

    def _columns(self, avail: float) -> list[list[Item]]:
        """The items in columns, as few rows as fit `avail` wide, each group's heading on top of its entries."""
        for rows in range(4, len(self.items) + 1):
            cols: list[list[Item]] = [[]]
            for item in self.items:
                # A heading never ends a column: it starts the next one with its entries.
                if len(cols[-1]) == rows or (item.swatch is None and len(cols[-1]) == rows - 1):
                    cols.append([])
                cols[-1].append(item)
            if sum(max(i.width for i in c) + 3 * GAP for c in cols) + 2 * PAD <= avail:
                return cols
        return [self.items]

    def width_row(self, avail: float) -> float:
        return sum(max(i.width for i in c) + 3 * GAP for c in self._columns(avail)) + 2 * PAD - 3 * GAP

    def height_row(self, avail: float) -> float:
        return max(len(c) for c in self._columns(avail)) * ROW + 2 * PAD

    def _frame(self, x: float, y: float, w: float, h: float, body: str) -> str:
        return (f'<g class="legend"><rect class="legend-frame" x="{fmt(x)}" y="{fmt(y)}" width="{fmt(w)}" '
                f'height="{fmt(h)}" rx="6" fill="#fafafa" stroke="#cfd8dc"/>{body}</g>')

    def draw_column(self, x: float, y: float) -> str:
        body = "".join(item.draw(x + PAD, y + PAD + i * ROW) for i, item in enumerate(self.items))
        return self._frame(x, y, self.width_column, self.height_column, body)

    def draw_row(self, x: float, y: float, avail: float) -> str:
        body, cx = "", x + PAD
        for col in self._columns(avail):
            body += "".join(item.draw(cx, y + PAD + i * ROW) for i, item in enumerate(col))
            cx += max(i.width for i in col) + 3 * GAP
        return self._frame(x, y, self.width_row(avail), self.height_row(avail), body)


def legend(graph: MoneyPathMap, health: MapHealth | None, highlighted: bool) -> Legend:
    stroke, fill, _ = NEUTRAL
    kinds = {n.kind for n in graph.nodes.values() if not n.external}
    items = [Item("Nodes", "")]
    items += [Item(KIND_TEXT[k], f"kind:{k}", _box(k, stroke, fill)) for k in NODE_KINDS if k in kinds]
    if any(n.external for n in graph.nodes.values()):
        items.append(Item("dashed: another service's node (catalog not joined)", "external",
                          _box("service", stroke, fill, dash=STUB_DASH)))
    if len(graph.services) > 1:
        items.append(Item("frame: one service's catalog", "cluster", _box("provider", "#b0bec5", "#f7f9fb")))
    items.append(Item("blue outline, \"PCI …\": stores, processes or transmits card data", "pci",
                      _box("service", stroke, fill, outline=PCI)))
    items.append(Item("KYC / region / licence: compliance notes", "notes", _note))
    items.append(Item("arrow: money moves; its label, figures beside it", "edge", _line("#546e7a")))
    if health is None:
        items += [Item("Health: not live", ""),
                  Item("not live: no health read, colours neutral (never green)", "not-live", _box("service", stroke,
                                                                                                  fill)),
                  Item("moneypath map --prometheus URL colours it", "not-live-how", _line("#546e7a"))]
    else:
        items.append(Item("Health", ""))
        for state in reversed(ORDER):  # every state, worst first, each as an edge is drawn in it
            s, f, _ = COLOURS[state]
            items.append(Item(state.meaning, f"state:{state.value}",
                              _line(s, 2.6 if state.outcome is Outcome.FAIL else 1.5, dash=STATE_DASH.get(state))))
    if highlighted:
        items.append(Item("magenta, dashed: where the fault hit", "highlight",
                          _line("#546e7a", halo=HIGHLIGHT)))
    return Legend(items)

