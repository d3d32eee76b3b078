"""The figures of the live map's edges: the PromQL of each role's figure (rate, errors, latency p99, lag, depth),
the traffic an edge carries (its rate, else its latency histogram's count), the scrape targets its series come
from, and how each number is written beside the edge. Queries are batched: one per role over up to CHUNK edges,
each edge's answer tagged with EDGE_LABEL."""

from __future__ import annotations

import math

from moneypath._common.prometheus import Prometheus
from moneypath.map.graph import EdgeSignal, MapEdge, MoneyPathMap

WINDOW = "1m"  # the rate window of the figures: a minute of a 15 s scrape holds four samples
QUANTILE = 0.99
CHUNK = 25  # edges per query: a 100-edge map is four queries a role, each URL a few kB
EDGE_LABEL = "map_edge"  # the label each edge's figure is tagged with in a batched query
ROLES = ("rate", "errors", "latency", "lag", "depth")
TRAFFIC = "traffic"  # the figure of an edge without a rate: its latency histogram's observations a second
TRAFFIC_ROLES = ("rate", "latency")  # the signals that count money moving (gauges and errors alone do not)


def selector(signal: EdgeSignal, suffix: str = "") -> str:
    inner = ",".join(f'{m.label}{m.op}"{m.value}"' for m in signal.selector.matchers)
    return f"{signal.metric}{suffix}{{{inner}}}" if inner else f"{signal.metric}{suffix}"


def _series(signal: EdgeSignal) -> str:
    """The selector of the series a signal reads: a histogram's by its count."""
    return selector(signal, "_count" if signal.role == "latency" else "")


def role_query(edge: MapEdge, role: str, window: str = WINDOW) -> str | None:
    """The PromQL of an edge's figure for one role, or None when the edge has no signal for it."""
    if role == TRAFFIC:
        latency = edge.signal("latency")
        return f"sum(rate({selector(latency, '_count')}[{window}]))" if edge.signal("rate") is None and latency \
            else None
    signal = edge.signal(role)
    if signal is None:
        return None
    if role == "rate":
        return f"sum(rate({selector(signal)}[{window}]))"
    if role == "errors":
        errors = f"sum(rate({selector(signal)}[{window}]))"
        rate = edge.signal("rate")
        return f"{errors} / sum(rate({selector(rate)}[{window}]))" if rate else errors
    if role == "latency":
        return f"histogram_quantile({QUANTILE}, sum by (le) (rate({selector(signal, '_bucket')}[{window}])))"
    if role == "lag":
        return f"max({selector(signal)})"
    return f"sum({selector(signal)})"  # depth


def targets_query(edge: MapEdge, window: str = WINDOW) -> str | None:
    """The scrape targets (job, instance) that exported any of the edge's series in the window."""
    parts = [f"group by (job, instance) (last_over_time({_series(s)}[{window}]))" for s in edge.signals]
    return " or ".join(dict.fromkeys(parts)) or None


def batched(queries: dict[str, str]) -> str:
    """One query answering each of `queries` (edge id → PromQL), each answer tagged EDGE_LABEL."""
    return " or ".join(f'label_replace({q}, "{EDGE_LABEL}", "{edge_id}", "", "")' for edge_id, q in queries.items())


def _chunks(queries: dict[str, str]):
    ids = list(queries)
    for start in range(0, len(ids), CHUNK):
        yield {i: queries[i] for i in ids[start:start + CHUNK]}


def read_figures(prom: Prometheus, graph: MoneyPathMap, window: str, at: float) -> dict[tuple[str, str], float]:
    """(edge id, role) → the finite value its figure query returned now; NaN and no answer are left out. The
    role TRAFFIC is there for edges without a rate (an edge's traffic is its rate when it has one)."""
    values: dict[tuple[str, str], float] = {}
    for role in (*ROLES, TRAFFIC):
        queries = {e.id: q for e in graph.edges if (q := role_query(e, role, window)) is not None}
        for chunk in _chunks(queries):
            for sample in prom.instant(batched(chunk), at):
                edge_id = sample["metric"].get(EDGE_LABEL)
                value = float(sample["value"][1])
                if edge_id in chunk and math.isfinite(value):
                    values[(edge_id, role)] = value
    return values


def read_targets(prom: Prometheus, graph: MoneyPathMap, window: str, at: float) -> dict[str, set[tuple[str, str]]]:
    """Edge id → the (job, instance) of every target that exported one of its series in the window."""
    seen: dict[str, set[tuple[str, str]]] = {}
    queries = {e.id: q for e in graph.edges if (q := targets_query(e, window)) is not None}
    for chunk in _chunks(queries):
        for sample in prom.instant(batched(chunk), at):
            labels = sample["metric"]
            if labels.get(EDGE_LABEL) in chunk:
                seen.setdefault(labels[EDGE_LABEL], set()).add((labels.get("job", ""), labels.get("instance", "")))
    return seen


def traffic(edge: MapEdge, values: dict[tuple[str, str], float]) -> float | None:
    """The money moving on the edge a second: its rate, else its latency's observations; None when not read."""
    return values.get((edge.id, "rate" if edge.signal("rate") else TRAFFIC))


def compact(x: float) -> str:
    """A number in few characters: 0, 0.042, 4.2, 42.5, 420, 4200, 42.5k, 4.2M; under 0.001 "<0.001"."""
    if x == 0:
        return "0"
    if abs(x) < 0.001:
        return "<0.001"
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= 10 * size or (suffix == "M" and abs(x) >= size):
            return f"{compact(x / size)}{suffix}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.2g}" if abs(x) < 10 else f"{x:.1f}".removesuffix(".0")


def figures(edge: MapEdge, values: dict[tuple[str, str], float]) -> tuple[str, ...]:
    """What is drawn beside an edge: its rate (or traffic), errors, latency p99, lag and depth, each only when
    read."""
    out = []
    if (v := values.get((edge.id, "rate"))) is not None:
        out.append(f"{compact(v)}/s")
    elif (v := values.get((edge.id, TRAFFIC))) is not None:
        out.append(f"{compact(v)}/s")
    if (v := values.get((edge.id, "errors"))) is not None:
        out.append(f"errors {compact(v * 100)} %" if edge.signal("rate") else f"errors {compact(v)}/s")
    if (v := values.get((edge.id, "latency"))) is not None:
        out.append(f"p{QUANTILE * 100:g} {compact(v * 1000)} ms" if v < 1 else f"p{QUANTILE * 100:g} {compact(v)} s")
    if (v := values.get((edge.id, "lag"))) is not None:
        out.append(f"lag {compact(v)} s" if v < 120 else f"lag {compact(v / 60)} min" if v < 7200
                   else f"lag {compact(v / 3600)} h")
    if (v := values.get((edge.id, "depth"))) is not None:
        out.append(f"depth {compact(v)}")
    return tuple(out)
