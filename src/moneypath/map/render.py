"""The money-path map as one self-contained SVG: each node a `<g class="node" data-node="service/key">` shaped by its
kind, each edge a `<g class="edge" data-edge="service#i">` with its label, PCI scope and compliance notes on the
nodes, a frame per service when several are joined, and a legend. With health, each element takes its mark's
colour and figures; without, neutral colours (no data is never green). `highlight`: where a fault hit."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from moneypath.map.graph import MapEdge, MapNode, MoneyPathMap
from moneypath.map.layout import Box, BoxSpec, EdgePath, EdgeSpec, Layout, layout
from moneypath.map.legend import legend
from moneypath.map.marks import MapHealth, Mark, State
from moneypath.map.shapes import (
    COLOURS,
    FONT_FAMILY,
    HIGHLIGHT,
    HIGHLIGHT_DASH,
    NEUTRAL,
    PCI,
    STATE_DASH,
    STUB_DASH,
    fmt,
    room,
    shape,
    text_width,
)

LABEL_SIZE, SMALL_SIZE, EDGE_SIZE = 12.0, 9.0, 10.0
PAD_X, PAD_Y, MIN_WIDTH = 10.0, 7.0, 96.0
WRAP = 36  # characters per annotation line
MARGIN, TITLE_HEIGHT = 16.0, 26.0


@dataclass(frozen=True)
class Line:
    text: str
    size: float
    bold: bool = False
    italic: bool = False
    colour: str | None = None  # None: the element's text colour

    @property
    def width(self) -> float:
        return text_width(self.text, self.size, self.bold)

    @property
    def height(self) -> float:
        return self.size * 1.3


def _wrap(text: str, width: int = WRAP) -> list[str]:
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*lines, current] if current else lines


def node_lines(node: MapNode, mark: Mark | None) -> list[Line]:
    """The text inside a node: its label, its kind, its PCI scope and compliance notes, its figures."""
    kind = f"{node.kind} · {node.provider}" if node.provider and node.provider != node.key else node.kind
    if node.external:
        kind = "another service (not joined)"
    lines = [Line(node.label, LABEL_SIZE, bold=True), Line(kind, SMALL_SIZE, italic=True, colour="#5f6368")]
    if node.pci:
        lines.append(Line("PCI " + " · ".join(node.pci), SMALL_SIZE, bold=True, colour=PCI))
    for prefix, value in (("KYC: ", node.kyc), ("region: ", node.region), ("licence: ", node.jurisdiction)):
        if value:
            lines += [Line(t, SMALL_SIZE) for t in _wrap(prefix + value)]
    if mark is not None:
        lines += [Line(f, SMALL_SIZE, bold=True) for f in mark.figures]
        if mark.state.word:
            lines.append(Line(mark.state.word, SMALL_SIZE, italic=True))
    return lines


def edge_lines(edge: MapEdge, mark: Mark | None) -> list[Line]:
    lines = [Line(edge.label, EDGE_SIZE)]
    if mark is not None and mark.figures:
        joined = "  ".join(mark.figures)
        texts = [joined] if len(joined) <= WRAP else list(mark.figures)
        lines += [Line(t, SMALL_SIZE, bold=True) for t in texts]
    if mark is not None and mark.state.word:
        lines.append(Line(mark.state.word, SMALL_SIZE, italic=True))
    return lines


def _node_size(node: MapNode, lines: list[Line]) -> tuple[float, float]:
    text_h = sum(li.height for li in lines)
    text_w = max(li.width for li in lines)
    extra = room(node.kind, text_h + 2 * PAD_Y)
    width = max(MIN_WIDTH, text_w + 2 * PAD_X + extra.left + extra.right)
    return math.ceil(width), math.ceil(text_h + 2 * PAD_Y + extra.top + extra.bottom)


def _text_block(lines: list[Line], cx: float, top: float, colour: str, cls: str) -> str:
    out, y = [], top
    for li in lines:
        y += li.size * 1.05  # baseline
        style = (' font-weight="bold"' if li.bold else "") + (' font-style="italic"' if li.italic else "")
        out.append(f'<text class="{cls}" x="{fmt(cx)}" y="{fmt(y)}" font-size="{fmt(li.size)}"{style} '
                   f'fill="{li.colour or colour}" text-anchor="middle">{escape(li.text)}</text>')
        y += li.height - li.size * 1.05
    return "".join(out)


def _colours(mark: Mark | None, health: MapHealth | None) -> tuple[str, str, str]:
    if health is None:
        return NEUTRAL
    return COLOURS[mark.state if mark is not None else State.GREY]


def _node_title(node: MapNode, mark: Mark | None) -> str:
    parts = [f"{node.label} — {node.kind} ({node.id})"]
    if node.external:
        parts.append("a node of another service whose catalog was not given: a stub")
    if node.pci:
        parts.append("PCI scope: " + ", ".join(node.pci))
    if mark is not None:
        parts.append(f"{mark.state.value}: {mark.why}" if mark.why else mark.state.value)
        if mark.alerts:
            parts.append("firing: " + ", ".join(mark.alerts))
    return "\n".join(parts)


def _edge_title(graph: MoneyPathMap, edge: MapEdge, mark: Mark | None) -> str:
    source, target = graph.nodes[edge.source], graph.nodes[edge.target]
    parts = [f"{source.label} → {target.label}: {edge.movement} ({edge.id})"]
    parts += [f"{s.role}: {s.promql}" for s in edge.signals] or ["no signal: cannot be judged"]
    if mark is not None:
        parts.append(f"{mark.state.value}: {mark.why}" if mark.why else mark.state.value)
        if mark.alerts:
            parts.append("firing: " + ", ".join(mark.alerts))
    return "\n".join(parts)


def _draw_node(node: MapNode, box: Box, lines: list[Line], mark: Mark | None, health: MapHealth | None,
               hit: bool) -> str:
    stroke, fill, text = _colours(mark, health)
    attrs = f'class="node" data-node={quoteattr(node.id)} data-kind="{node.kind}"'
    if node.pci:
        attrs += f' data-pci="{" ".join(node.pci)}"'
    if mark is not None:
        attrs += f' data-state="{mark.state.value}"'
    if node.external:
        attrs += ' data-external="true"'
    if hit:
        attrs += ' data-highlight="true"'
    out = [f"<g {attrs}><title>{escape(_node_title(node, mark))}</title>"]
    if hit:
        out.append(f'<rect class="highlight" x="{fmt(box.x - 6)}" y="{fmt(box.y - 6)}" width="{fmt(box.width + 12)}" '
                   f'height="{fmt(box.height + 12)}" rx="6" fill="none" stroke="{HIGHLIGHT}" stroke-width="3.5" '
                   f'stroke-dasharray="{HIGHLIGHT_DASH}"/>')
    if node.pci:
        out.append(f'<rect class="pci" x="{fmt(box.x - 3)}" y="{fmt(box.y - 3)}" width="{fmt(box.width + 6)}" '
                   f'height="{fmt(box.height + 6)}" rx="5" fill="none" stroke="{PCI}" stroke-width="1.6"/>')
    out.append(shape(node.kind, box, stroke=stroke, fill=fill,
                     width=2.2 if mark is not None and mark.state in (State.RED, State.AMBER) else 1.4,
                     dash=STUB_DASH if node.external else None))
    extra = room(node.kind, box.height)
    inner_cx = box.x + extra.left + (box.width - extra.left - extra.right) / 2
    text_h = sum(li.height for li in lines)
    top = box.y + extra.top + (box.height - extra.top - extra.bottom - text_h) / 2
    out.append(_text_block(lines, inner_cx, top, text, "label"))
    out.append("</g>")
    return "".join(out)


def _spline(points: tuple[tuple[float, float], ...]) -> str:
    d = f"M{fmt(points[0][0])},{fmt(points[0][1])}"
    for i in range(1, len(points) - 2, 3):
        (x1, y1), (x2, y2), (x3, y3) = points[i:i + 3]
        d += f" C{fmt(x1)},{fmt(y1)} {fmt(x2)},{fmt(y2)} {fmt(x3)},{fmt(y3)}"
    return d


def _arrow(path: EdgePath) -> str:
    if path.head is None or not path.points:
        return ""
    (bx, by), (hx, hy) = path.points[-1], path.head
    length = math.hypot(hx - bx, hy - by) or 1.0
    nx, ny = -(hy - by) / length * length * 0.4, (hx - bx) / length * length * 0.4
    return f"{fmt(hx)},{fmt(hy)} {fmt(bx + nx)},{fmt(by + ny)} {fmt(bx - nx)},{fmt(by - ny)}"


def _draw_edge(graph: MoneyPathMap, edge: MapEdge, path: EdgePath, lines: list[Line], mark: Mark | None,
               health: MapHealth | None, hit: bool) -> str:
    stroke, _, text = _colours(mark, health)
    if health is None:
        stroke = "#546e7a"
    attrs = f'class="edge" data-edge={quoteattr(edge.id)} data-source={quoteattr(edge.source)} ' \
            f'data-target={quoteattr(edge.target)} data-movement="{edge.movement}"'
    if mark is not None:
        attrs += f' data-state="{mark.state.value}"'
    if hit:
        attrs += ' data-highlight="true"'
    d = _spline(path.points)
    out = [f"<g {attrs}><title>{escape(_edge_title(graph, edge, mark))}</title>"]
    if hit:
        out.append(f'<path class="highlight" d="{d}" fill="none" stroke="{HIGHLIGHT}" stroke-width="9" '
                   f'stroke-opacity="0.45" stroke-dasharray="{HIGHLIGHT_DASH}"/>')
    width = 2.6 if mark is not None and mark.state in (State.RED, State.AMBER) else 1.5
    dash = STATE_DASH.get(mark.state) if mark is not None and health is not None else None
    out.append(f'<path class="line" d="{d}" fill="none" stroke="{stroke}" stroke-width="{fmt(width)}"'
               + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
    if arrow := _arrow(path):
        out.append(f'<polygon class="arrow" points="{arrow}" fill="{stroke}" stroke="{stroke}"/>')
    if path.label is not None:
        w = max(li.width for li in lines) + 4
        h = sum(li.height for li in lines) + 2
        x, y = path.label[0] - w / 2, path.label[1] - h / 2
        out.append(f'<rect class="label-back" x="{fmt(x)}" y="{fmt(y)}" width="{fmt(w)}" height="{fmt(h)}" '
                   f'fill="#ffffff" fill-opacity="0.85"/>')
        out.append(_text_block(lines, path.label[0], y + 1, text, "label"))
    out.append("</g>")
    return "".join(out)


def _draw_cluster(name: str, box: Box) -> str:
    return (f'<g class="cluster" data-service={quoteattr(name)}><rect x="{fmt(box.x)}" y="{fmt(box.y)}" '
            f'width="{fmt(box.width)}" height="{fmt(box.height)}" rx="8" fill="#f7f9fb" stroke="#b0bec5" '
            f'stroke-width="1"/><text x="{fmt(box.x + 8)}" y="{fmt(box.y + 14)}" font-size="11" font-weight="bold" '
            f'fill="#37474f">{escape(name)}</text></g>')


def default_title(graph: MoneyPathMap) -> str:
    return "Money path: " + " + ".join(graph.services)


def render_svg(graph: MoneyPathMap, health: MapHealth | None = None, highlight: Collection[str] = (),
               title: str | None = None) -> str:
    """The map as a self-contained SVG document (no fonts, scripts or images from elsewhere). Raises
    moneypath.map.layout.LayoutError when Graphviz dot is missing."""
    hits = set(highlight)
    node_marks = {i: (health.nodes.get(i) if health is not None else None) for i in graph.nodes}
    edge_marks = {e.id: (health.edges.get(e.id) if health is not None else None) for e in graph.edges}
    n_lines = {i: node_lines(n, node_marks[i]) for i, n in graph.nodes.items()}
    e_lines = {e.id: edge_lines(e, edge_marks[e.id]) for e in graph.edges}
    said = _Annotations(n_lines, e_lines, node_marks, edge_marks)
    joined = len(graph.services) > 1
    specs = []
    for node_id, node in graph.nodes.items():
        w, h = _node_size(node, n_lines[node_id])
        specs.append(BoxSpec(node_id, w, h, cluster=node.service if joined and not node.external else None))
    edge_specs = [EdgeSpec(e.id, e.source, e.target,
                           label_width=math.ceil(max(li.width for li in e_lines[e.id]) + 8),
                           label_height=math.ceil(sum(li.height for li in e_lines[e.id]) + 4)) for e in graph.edges]
    placed = layout(specs, edge_specs)
    key = legend(graph, health, bool(hits))
    return _compose(graph, placed, key, said, health, hits, title or default_title(graph))


NOTICE_SIZE, NOTICE_WRAP, NOTICE_STROKE, NOTICE_FILL = 11.0, 110, "#c62828", "#fdecea"


def notices(health: MapHealth | None) -> list[tuple[str, str]]:
    """What the map must say above everything, as (kind, text): Prometheus did not answer; firing page alerts that
    no edge shows."""
    if health is None:
        return []
    out = []
    if health.answered is False:
        out.append(("prometheus", f"Prometheus did not answer ({health.problem.removeprefix('not measured: ')}): "
                                  "nothing on this map is measured"))
    if health.unplaced:
        out.append(("unplaced", "firing, on no edge: " + ", ".join(health.unplaced)))
    return out


def _notice_box(items: list[tuple[str, str]], x: float, y: float) -> tuple[str, float, float]:
    """The notices drawn at (x, y) in a red-framed box: the SVG, its width and height."""
    lines = [(kind, Line(t, NOTICE_SIZE, bold=True)) for kind, text in items for t in _wrap(text, NOTICE_WRAP)]
    if not lines:
        return "", 0.0, 0.0
    w = max(li.width for _, li in lines) + 2 * PAD_X
    h = sum(li.height for _, li in lines) + 2 * PAD_Y
    out = [f'<g class="notices"><rect x="{fmt(x)}" y="{fmt(y)}" width="{fmt(w)}" height="{fmt(h)}" rx="4" '
           f'fill="{NOTICE_FILL}" stroke="{NOTICE_STROKE}" stroke-width="1.6"/>']
    top = y + PAD_Y
    for kind, li in lines:
        top += li.size * 1.05
        out.append(f'<text class="notice" data-notice="{kind}" x="{fmt(x + PAD_X)}" y="{fmt(top)}" '
                   f'font-size="{fmt(li.size)}"' + (' font-weight="bold"' if li.bold else "")
                   + f' fill="#b71c1c">{escape(li.text)}</text>')
        top += li.height - li.size * 1.05
    out.append("</g>")
    return "".join(out), w, h


@dataclass(frozen=True)
class _Annotations:
    """What the map says on each node and edge (by id): its text lines, and its health mark (None: not read)."""

    node_lines: dict[str, list[Line]]
    edge_lines: dict[str, list[Line]]
    node_marks: dict[str, Mark | None]
    edge_marks: dict[str, Mark | None]


def _compose(graph, placed: Layout, key, said: _Annotations, health, hits, title) -> str:
    # The legend goes right of the map or below it, whichever makes the picture closer to a landscape page.
    right_w = placed.width + MARGIN + key.width_column
    right_h = max(placed.height, key.height_column)
    below_w = max(placed.width, key.width_row(placed.width))
    below_h = placed.height + MARGIN + key.height_row(placed.width)
    target = 1.6
    beside = abs(math.log((right_w / right_h) / target)) <= abs(math.log((below_w / below_h) / target))
    notice_svg, notice_w, notice_h = _notice_box(notices(health), MARGIN, MARGIN + TITLE_HEIGHT)
    map_x, map_y = MARGIN, MARGIN + TITLE_HEIGHT + (notice_h + MARGIN if notice_h else 0)
    if beside:
        width, height = right_w, right_h
        legend_svg = key.draw_column(map_x + placed.width + MARGIN, map_y)
    else:
        width, height = below_w, below_h
        legend_svg = key.draw_row(map_x, map_y + placed.height + MARGIN, placed.width)
    width, height = max(width, notice_w), height + (notice_h + MARGIN if notice_h else 0)
    total_w, total_h = math.ceil(width + 2 * MARGIN), math.ceil(height + 2 * MARGIN + TITLE_HEIGHT)
    subtitle = ("not live: drawn from the catalog, no health read" if health is None else health.source
                if health.source.startswith("not live") else "not measured: Prometheus did not answer"
                if health.answered is False else "live")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="money-path-map" viewBox="0 0 {total_w} {total_h}" '
           f'width="{total_w}" height="{total_h}" font-family="{FONT_FAMILY}" role="img" '
           f'aria-label={quoteattr(title)}>',
           f"<title>{escape(title)}</title>",
           f'<rect class="background" x="0" y="0" width="{total_w}" height="{total_h}" fill="#ffffff"/>',
           f'<text class="title" x="{fmt(MARGIN)}" y="{fmt(MARGIN + 14)}" font-size="16" font-weight="bold" '
           f'fill="#263238">{escape(title)}</text>',
           f'<text class="subtitle" x="{fmt(total_w - MARGIN)}" y="{fmt(MARGIN + 14)}" font-size="10" '
           f'fill="#5f6368" text-anchor="end">{escape(subtitle)}</text>',
           f'<g class="map" transform="translate({fmt(map_x)},{fmt(map_y)})">']
    out += [_draw_cluster(name, box) for name, box in placed.clusters.items()]
    for edge in graph.edges:
        out.append(_draw_edge(graph, edge, placed.edges[edge.id], said.edge_lines[edge.id], said.edge_marks[edge.id],
                              health, edge.id in hits))
    for node_id, node in graph.nodes.items():
        out.append(_draw_node(node, placed.boxes[node_id], said.node_lines[node_id], said.node_marks[node_id], health,
                              node_id in hits))
    out += ["</g>", legend_svg, notice_svg, "</svg>"]
    return "\n".join(out) + "\n"
