"""Where each box and edge of the map goes: Graphviz `dot` (the Debian package graphviz) lays out boxes of the sizes
the renderer asks for, and returns positions as JSON; render.py draws the SVG itself, so every id and class is ours
(docs/decisions/0022-money-path-map-layout.md). Coordinates are points, origin top left, y down."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

DOT = "dot"
INSTALL_HINT = "Graphviz `dot` is not installed: install the Debian package graphviz (apt-get install graphviz)"
TIMEOUT_S = 60.0


class LayoutError(RuntimeError):
    """dot is missing or failed: one line to print, never a traceback."""


@dataclass(frozen=True)
class BoxSpec:
    id: str
    width: float  # points
    height: float
    cluster: str | None = None  # boxes sharing a cluster are drawn inside one frame


@dataclass(frozen=True)
class EdgeSpec:
    id: str
    source: str
    target: str
    label_width: float = 0.0  # points; 0: no label
    label_height: float = 0.0


@dataclass(frozen=True)
class Box:
    x: float  # left
    y: float  # top
    width: float
    height: float

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True)
class EdgePath:
    points: tuple[tuple[float, float], ...]  # a cubic B-spline as dot gives it: start, then 3 points per segment
    head: tuple[float, float] | None  # the arrow's tip (the spline ends short of the box by the arrow's length)
    label: tuple[float, float] | None  # centre of the label


@dataclass
class Layout:
    width: float
    height: float
    boxes: dict[str, Box] = field(default_factory=dict)
    edges: dict[str, EdgePath] = field(default_factory=dict)
    clusters: dict[str, Box] = field(default_factory=dict)  # cluster name → its frame (label drawn at its top)


def dot_available() -> bool:
    return shutil.which(DOT) is not None


def layout(boxes: Sequence[BoxSpec], edges: Sequence[EdgeSpec], *, cluster_label_height: float = 18.0) -> Layout:
    """Positions for the boxes and edges, left to right (money flows that way). LayoutError when dot is missing
    or refuses the graph."""
    if not dot_available():
        raise LayoutError(INSTALL_HINT)
    source = dot_source(boxes, edges, cluster_label_height=cluster_label_height)
    try:
        run = subprocess.run([DOT, "-Tjson0"], input=source, capture_output=True, text=True, timeout=TIMEOUT_S,
                             check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LayoutError(f"Graphviz dot failed: {exc}") from None
    if run.returncode != 0:
        first = (run.stderr.strip().splitlines() or ["no output"])[0]
        raise LayoutError(f"Graphviz dot failed (exit {run.returncode}): {first}")
    return _parse(json.loads(run.stdout), boxes, edges)


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot_source(boxes: Sequence[BoxSpec], edges: Sequence[EdgeSpec], *, cluster_label_height: float = 18.0) -> str:
    """The dot graph: boxes named b0, b1, ... of fixed size (the renderer measured their text), edges carrying an
    empty fixed-size label of the size the renderer will draw, so dot keeps room for it."""
    names = {b.id: f"b{i}" for i, b in enumerate(boxes)}
    lines = ["digraph map {", '  graph [rankdir=LR, newrank=true, nodesep=0.35, ranksep=0.6, splines=true, margin=0, pad=0, '
             f'fontsize={cluster_label_height * 0.7:.1f}, fontname="Helvetica"];',
             '  node [shape=box, fixedsize=true, label=""];',
             '  edge [arrowhead=normal, arrowsize=0.8];']

    def node_line(box: BoxSpec, indent: str) -> str:
        return f"{indent}{names[box.id]} [width={box.width / 72:.4f}, height={box.height / 72:.4f}];"

    clusters: dict[str, list[BoxSpec]] = {}
    for box in boxes:
        if box.cluster is None:
            lines.append(node_line(box, "  "))
        else:
            clusters.setdefault(box.cluster, []).append(box)
    for i, (name, members) in enumerate(clusters.items()):
        # A label of fixed height on top of the frame: the renderer draws the cluster's name there.
        lines += [f"  subgraph cluster_{i} {{", f"    graph [id={_q(name)}, label={_q(name)}, labeljust=l, margin=14];",
                  *(node_line(b, "    ") for b in members), "  }"]
    for edge in edges:
        attrs = [f"id={_q(edge.id)}"]
        if edge.label_width > 0:
            attrs.append('label=<<TABLE BORDER="0" CELLPADDING="0" CELLSPACING="0"><TR><TD FIXEDSIZE="TRUE" '
                         f'WIDTH="{edge.label_width:.0f}" HEIGHT="{edge.label_height:.0f}"></TD></TR></TABLE>>')
        lines.append(f"  {names[edge.source]} -> {names[edge.target]} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _pair(text: str) -> tuple[float, float]:
    x, y = text.split(",")[:2]
    return float(x), float(y)


def _parse(out: dict, boxes: Sequence[BoxSpec], edges: Sequence[EdgeSpec]) -> Layout:
    llx, lly, urx, ury = (float(v) for v in out["bb"].split(","))
    height = ury - lly

    def flip(p: tuple[float, float]) -> tuple[float, float]:
        return round(p[0] - llx, 2), round(ury - p[1], 2)

    by_name = {f"b{i}": b for i, b in enumerate(boxes)}
    result = Layout(width=round(urx - llx, 2), height=round(height, 2))
    for obj in out.get("objects", []):
        if obj.get("name", "").startswith("cluster_"):
            x0, y0, x1, y1 = (float(v) for v in obj["bb"].split(","))
            left, top = flip((x0, y1))
            result.clusters[obj["id"]] = Box(left, top, round(x1 - x0, 2), round(y1 - y0, 2))
        elif obj.get("name") in by_name:
            spec = by_name[obj["name"]]
            cx, cy = flip(_pair(obj["pos"]))
            result.boxes[spec.id] = Box(round(cx - spec.width / 2, 2), round(cy - spec.height / 2, 2),
                                        spec.width, spec.height)
    for edge in out.get("edges", []):
        head, points = None, []
        for part in edge.get("pos", "").split():
            if part.startswith("e,"):
                head = flip(_pair(part[2:]))
            elif part.startswith("s,"):
                continue
            else:
                points.append(flip(_pair(part)))
        label = flip(_pair(edge["lp"])) if "lp" in edge else None
        result.edges[edge["id"]] = EdgePath(points=tuple(points), head=head, label=label)
    return result
