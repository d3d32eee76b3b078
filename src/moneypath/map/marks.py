"""What the map shows on each node and edge: a state (red, amber, green, grey), the figures beside it and why.
Read from Prometheus by live.py; drawn by render.py; a drill report or the evidence pack may build marks of its
own (the edge a fault hit, the alerts that paged)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    RED = "red"  # a paging alert reading one of its signals fires
    AMBER = "amber"  # a ticket alert reading one of its signals fires, or an SLI over them is beyond its objective
    GREEN = "green"  # measured and within
    GREY = "grey"  # not measured: no signal, no data, or Prometheus not asked — never green on no data

    @property
    def rank(self) -> int:
        """Worse is higher; grey ranks below green so a measured edge's state wins over a silent one's."""
        return {State.GREY: 0, State.GREEN: 1, State.AMBER: 2, State.RED: 3}[self]


@dataclass(frozen=True)
class Mark:
    state: State
    figures: tuple[str, ...] = ()  # drawn beside the element, e.g. ("12.3/s", "errors 0.4 %", "p99 182 ms")
    why: str = ""  # one line: the alert that fired, the SLI beyond its objective, or why not measured
    alerts: tuple[str, ...] = ()  # names of the alerts firing on it


@dataclass
class MapHealth:
    nodes: dict[str, Mark] = field(default_factory=dict)  # node id → mark
    edges: dict[str, Mark] = field(default_factory=dict)  # edge id → mark
    at: float | None = None  # Unix seconds the figures were read at
    source: str = ""  # where they were read (the Prometheus URL), or what drew them (a drill's report)
    # A source starting "not live" (a drill report's marks, as at the drill's end) is the drawing's subtitle.

    def worst(self) -> State:
        marks = [*self.nodes.values(), *self.edges.values()]
        return max((m.state for m in marks), key=lambda s: s.rank, default=State.GREY)
