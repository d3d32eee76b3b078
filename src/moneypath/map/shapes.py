"""The shape of each node kind on the map, as SVG, and the room each shape leaves for text; render.py and the
legend draw with the same functions, so the legend's marks are the map's."""

from __future__ import annotations

from dataclasses import dataclass

from moneypath.map.layout import Box
from moneypath.map.marks import State

# Average advance of a character, in ems, for a wide sans-serif (DejaVu Sans, Verdana): generous, so text measured
# here fits the box whatever sans-serif the viewer has.
_NARROW = set("ijl.,:;'|!()[]{} ")
_SEMI = set("frt-/\"`")
_WIDE = set("mwMW@%")
FONT_FAMILY = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"

# Stroke, fill and text colour per state; NEUTRAL when no health was read.
COLOURS = {
    State.RED: ("#c62828", "#fdecea", "#b71c1c"),
    State.AMBER: ("#b26a00", "#fff3e0", "#8a5200"),
    State.GREEN: ("#2e7d32", "#e8f5e9", "#1b5e20"),
    State.IDLE: ("#607d8b", "#ffffff", "#37474f"),
    State.NO_OBJECTIVE: ("#6a5f7a", "#ffffff", "#4a4060"),
    State.GREY: ("#8a8f98", "#eef0f2", "#5f6368"),
}
# The neutral states' edges are dashed, so they read apart from grey (not measured) without their colour.
STATE_DASH = {State.IDLE: "2 3", State.NO_OBJECTIVE: "7 2 2 2"}
NEUTRAL = ("#455a64", "#ffffff", "#263238")
PCI = "#1e4fd8"
HIGHLIGHT = "#e000b4"
STUB_DASH = "5 3"
HIGHLIGHT_DASH = "8 4"


def text_width(text: str, size: float, bold: bool = False) -> float:
    ems = 0.0
    for ch in text:
        if ch in _NARROW:
            ems += 0.36
        elif ch in _SEMI:
            ems += 0.46
        elif ch in _WIDE:
            ems += 0.98
        elif ch.isupper() or ch.isdigit():
            ems += 0.74
        else:
            ems += 0.64
    return ems * size * (1.1 if bold else 1.0)


@dataclass(frozen=True)
class Room:
    """Extra space a shape needs around its text, in points."""

    left: float = 0.0
    right: float = 0.0
    top: float = 0.0
    bottom: float = 0.0


def room(kind: str, height: float) -> Room:
    return {
        "funding": Room(left=height * 0.3, right=height * 0.3),
        "ledger": Room(top=12, bottom=4),
        "store": Room(top=12, bottom=4),
        "queue": Room(right=18),
        "settlement": Room(right=8),
        "payout_rail": Room(left=12, right=12),
        "bank": Room(top=10),
        "acquirer": Room(left=7),
        "merchant": Room(left=5, right=5),
    }.get(kind, Room())


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _points(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{_f(x)},{_f(y)}" for x, y in points)


def shape(kind: str, box: Box, *, stroke: str, fill: str, width: float = 1.4, dash: str | None = None,
          extra: str = "") -> str:
    """The node's outline (class "box": its bounding box is the node's box) and any inner strokes of its kind."""
    x, y, w, h = box.x, box.y, box.width, box.height
    paint = f'fill="{fill}" stroke="{stroke}" stroke-width="{_f(width)}"' + (f' stroke-dasharray="{dash}"' if dash
                                                                           else "") + extra
    line = f'fill="none" stroke="{stroke}" stroke-width="{_f(width * 0.8)}"'
    if kind in ("ledger", "store"):
        ry = min(6.0, h / 4)
        body = (f'<path class="box" d="M{_f(x)},{_f(y + ry)} a{_f(w / 2)},{_f(ry)} 0 0 1 {_f(w)},0 v{_f(h - 2 * ry)} '
                f'a{_f(w / 2)},{_f(ry)} 0 0 1 {_f(-w)},0 z" {paint}/>'
                f'<path d="M{_f(x)},{_f(y + ry)} a{_f(w / 2)},{_f(ry)} 0 0 0 {_f(w)},0" {line}/>')
        if kind == "ledger":  # a second rule: the book's pages
            body += f'<path d="M{_f(x)},{_f(y + 2 * ry)} a{_f(w / 2)},{_f(ry)} 0 0 0 {_f(w)},0" {line}/>'
        return body
    if kind in ("funding",):
        return f'<rect class="box" x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}" rx="{_f(h / 2)}" {paint}/>'
    if kind == "service":
        return f'<rect class="box" x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}" rx="8" {paint}/>'
    if kind == "queue":
        body = f'<rect class="box" x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}" rx="2" {paint}/>'
        for dx in (6.0, 12.0):
            body += f'<path d="M{_f(x + w - dx)},{_f(y)} v{_f(h)}" {line}/>'
        return body
    if kind == "settlement":  # a document with a folded corner
        f = min(10.0, h / 3)
        return (f'<path class="box" d="M{_f(x)},{_f(y)} H{_f(x + w - f)} L{_f(x + w)},{_f(y + f)} V{_f(y + h)} '
                f'H{_f(x)} Z" {paint}/><path d="M{_f(x + w - f)},{_f(y)} V{_f(y + f)} H{_f(x + w)}" {line}/>')
    if kind == "payout_rail":
        i = min(10.0, h / 3)
        pts = [(x + i, y), (x + w - i, y), (x + w, y + h / 2), (x + w - i, y + h), (x + i, y + h), (x, y + h / 2)]
        return f'<polygon class="box" points="{_points(pts)}" {paint}/>'
    if kind == "bank":  # a roof
        r = min(10.0, h / 3)
        pts = [(x, y + r), (x + w / 2, y), (x + w, y + r), (x + w, y + h), (x, y + h)]
        return f'<polygon class="box" points="{_points(pts)}" {paint}/>'
    if kind == "merchant":  # cut corners
        c = min(6.0, h / 4)
        pts = [(x + c, y), (x + w - c, y), (x + w, y + c), (x + w, y + h - c), (x + w - c, y + h), (x + c, y + h),
               (x, y + h - c), (x, y + c)]
        return f'<polygon class="box" points="{_points(pts)}" {paint}/>'
    body = f'<rect class="box" x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}" rx="2" {paint}/>'
    if kind == "acquirer":  # a bar on the left: the acquirer holds the merchant account
        body += f'<rect x="{_f(x)}" y="{_f(y)}" width="4" height="{_f(h)}" fill="{stroke}"/>'
    return body


def fmt(v: float) -> str:
    return _f(v)
