"""The state of one edge of the live map from what was read of it: the rules of docs/map-live.md, in order, as one
pure function (`decide`), so that the rules can be tested over every combination of what may be read.

1. No signal declared: grey.
2. Its target's counters are not data (counters that go backwards: workers without multiprocess mode): grey,
   no figure (its rates are not rates).
3. A firing page alert reading it: red; a ticket alert: amber.
4. A target its series came from is down or stale: grey, no figure.
5. One of its objectives is beyond: amber.
6. Nothing read: grey.
7. No traffic signal (a rate, or a latency histogram's count), or its traffic not read: grey; traffic 0: idle.
8. No objective declared on its signals: no objective.
9. An objective not measured: grey.
10. Otherwise green: traffic seen, its targets up, every objective measured and within.
"""

from __future__ import annotations

from dataclasses import dataclass

from moneypath._common.verdict import Check, Outcome, not_measured
from moneypath.map.figures import compact
from moneypath.map.marks import Mark, State

SEVERITIES = {"page": State.RED, "ticket": State.AMBER}


@dataclass(frozen=True)
class Hit:
    """A firing alert shown on the edge: its name, severity, name with labels, and how it reads the edge."""

    name: str
    severity: str
    described: str
    how: str


@dataclass(frozen=True)
class EdgeReading:
    """What was read of one edge."""

    metrics: tuple[str, ...] = ()  # the metric names of its signals (empty: it declares none)
    figures: tuple[str, ...] = ()
    any_data: bool = False  # a figure was read, or a target exported its series in the window
    traffic_signal: bool = False  # it declares a rate or a latency signal
    traffic: float | None = None  # money moving a second over the window (None: not read)
    hits: tuple[Hit, ...] = ()
    not_data: str | None = None  # why its target's counters are not data
    dead: str | None = None  # why a target of its series is not alive
    objectives: tuple[Check, ...] = ()
    window: str = "1m"


def _metrics(r: EdgeReading) -> str:
    return ", ".join(dict.fromkeys(r.metrics))


def _alert_mark(r: EdgeReading, alerts: tuple[str, ...]) -> Mark | None:
    for severity, state in SEVERITIES.items():
        first = next((h for h in r.hits if h.severity == severity), None)
        if first is not None:
            more = len({h.described for h in r.hits if h.severity == severity}) - 1
            why = f"{severity} alert {first.described} fires, {first.how}" + (f" (and {more} more)" if more else "")
            return Mark(state, r.figures, why, alerts)
    return None


def decide(r: EdgeReading) -> Mark:
    """The edge's mark; green only with traffic seen, its targets up and every objective measured and within."""
    alerts = tuple(dict.fromkeys(h.name for h in r.hits))
    if not r.metrics:
        return Mark(State.GREY, why=not_measured("the edge declares no signals"), alerts=alerts)
    if r.not_data is not None:
        return Mark(State.GREY, why=not_measured(r.not_data), alerts=alerts)
    if (mark := _alert_mark(r, alerts)) is not None:
        return mark
    if r.dead is not None:
        return Mark(State.GREY, why=not_measured(r.dead), alerts=alerts)
    beyond = [c for c in r.objectives if c.outcome is Outcome.FAIL]
    if beyond:
        return Mark(State.AMBER, r.figures, "beyond its objective: " + "; ".join(c.why for c in beyond), alerts)
    if not r.any_data:
        return Mark(State.GREY, why=not_measured(f"no data now from {_metrics(r)}"), alerts=alerts)
    if not r.traffic_signal:
        return Mark(State.GREY, r.figures, not_measured("no traffic can be seen on it: it declares no rate or "
                                                        "latency signal"), alerts)
    if r.traffic is None:
        return Mark(State.GREY, r.figures, not_measured(f"no traffic figure now from {_metrics(r)}"), alerts)
    if r.traffic <= 0:
        return Mark(State.IDLE, r.figures, f"idle: no traffic in the last {r.window} (0/s), its target up", alerts)
    moving = f"{compact(r.traffic)}/s in the last {r.window}, its target up"
    if not r.objectives:
        return Mark(State.NO_OBJECTIVE, r.figures, f"no objective: {moving}, but the catalog declares no SLO or "
                                                   f"threshold on {_metrics(r)}", alerts)
    unmeasured = [c for c in r.objectives if c.outcome is Outcome.NOT_MEASURED]
    if unmeasured:
        return Mark(State.GREY, r.figures, not_measured("; ".join(c.why.removeprefix("not measured: ")
                                                                  for c in unmeasured)), alerts)
    return Mark(State.GREEN, r.figures, f"{moving}; " + "; ".join(c.why for c in r.objectives), alerts)
