"""What the map shows on each node and edge: a state, the figures beside it and why. Read from Prometheus by
live_health.py; drawn by render.py, its legend generated from `State`; a drill report or the evidence pack may
build marks of its own (the edge a fault hit, the alerts that paged).

The states are the three results (`moneypath._common.verdict.Outcome`) in colours, and two neutral states that are
not measured health either: red and amber fail, green passes, grey, idle and no objective are not measured. Green is
measured health only: traffic seen, its target up, its signals within the catalog's objectives (docs/map-live.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from moneypath._common.verdict import Outcome


class State(StrEnum):
    RED = "red"  # a paging alert reading one of its signals fires
    AMBER = "amber"  # a ticket alert reading one of its signals fires, or a signal is beyond its objective
    GREEN = "green"  # traffic seen, its target up, every objective of its signals measured and within
    IDLE = "idle"  # measured, its target up, but no traffic in the window: nothing to judge, never green
    NO_OBJECTIVE = "no objective"  # traffic seen, but the catalog declares no objective for its signals
    GREY = "grey"  # not measured: no signal or data, target down or stale, counters not data, no Prometheus

    @property
    def outcome(self) -> Outcome:
        """The result the state is: red and amber fail, green passes, every other state is not measured."""
        return {State.RED: Outcome.FAIL, State.AMBER: Outcome.FAIL, State.GREEN: Outcome.PASS}.get(
            self, Outcome.NOT_MEASURED)

    @property
    def order(self) -> int:
        """Worse is higher; the neutral states rank below green so a measured edge's state wins over a silent one's
        on a node, and grey lowest."""
        return ORDER.index(self)

    @property
    def rank(self) -> int:
        """The number the Grafana Node Graph's queries carry (moneypath.generate.dashboards.map_queries): grey 0,
        green 1, amber 2, red 3; the neutral states, which those queries do not draw, count as grey there."""
        return {State.GREEN: 1, State.AMBER: 2, State.RED: 3}.get(self, 0)

    @property
    def word(self) -> str:
        """What a neutral element says beside its figures (a colour alone is not read by everyone); "" otherwise."""
        return {State.IDLE: "idle", State.NO_OBJECTIVE: "no objective", State.GREY: "not measured"}.get(self, "")

    @property
    def meaning(self) -> str:
        """The legend's line for the state."""
        return MEANINGS[self]


ORDER = (State.GREY, State.NO_OBJECTIVE, State.IDLE, State.GREEN, State.AMBER, State.RED)
MEANINGS = {
    State.RED: "red: a paging alert on its signals fires",
    State.AMBER: "amber: a ticket alert fires, or a signal is beyond its objective",
    State.GREEN: "green: traffic seen, target up, within its objectives",
    State.IDLE: "idle: target up, no traffic in the window (never green)",
    State.NO_OBJECTIVE: "no objective: traffic, but no SLO or threshold on its signals",
    State.GREY: "grey: not measured (no data, target down, counters not data)",
}


def worst(states) -> State:
    return max(states, key=lambda s: s.order, default=State.GREY)


@dataclass(frozen=True)
class Mark:
    state: State
    figures: tuple[str, ...] = ()  # drawn beside the element, e.g. ("12.3/s", "errors 0.4 %", "p99 182 ms")
    why: str = ""  # one line: the alert that fired, the objective beyond or met, or why not measured
    alerts: tuple[str, ...] = ()  # names of the alerts firing on it


@dataclass
class MapHealth:
    nodes: dict[str, Mark] = field(default_factory=dict)  # node id → mark
    edges: dict[str, Mark] = field(default_factory=dict)  # edge id → mark
    at: float | None = None  # Unix seconds the figures were read at
    source: str = ""  # where they were read (the Prometheus URL), or what drew them (a drill's report)
    # A source starting "not live" (a drill report's marks, as at the drill's end) is the drawing's subtitle.
    answered: bool | None = None  # whether Prometheus answered (None: no Prometheus was asked)
    problem: str = ""  # why it did not answer, one line
    unplaced: tuple[str, ...] = ()  # firing page alerts no edge shows, each "Name{label=value, ...}"

    def worst(self) -> State:
        return worst([*(m.state for m in self.nodes.values()), *(m.state for m in self.edges.values())])
