"""The objectives an edge of the map is judged against: what its catalog declares for the edge's signals, and
nothing else. An edge with none is never green ("no objective"); docs/map-live.md, "Objectives".

- An SLO whose SLI reads one of the edge's signals (availability: its `total`; latency: its histogram), judged by
  its recorded error ratio over the shortest SLI window against its error budget.
- A built-in business alert's threshold on one of the edge's signals (THRESHOLDS): the error ratio of calls to a
  provider or of ledger writes, the reconciliation lag, dead letters and settlement mismatches, judged by the
  edge's own figures over the map's window. A team's own alert (`expr:`) declares no threshold the map can read.

Each objective judged is a `Check` of the three results: within passes, beyond fails, a figure that was not read
is not measured (never within).
"""

from __future__ import annotations

from dataclasses import dataclass

from moneypath._common.verdict import Check, Outcome
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import AlertKey, Key
from moneypath.catalog.terms import Selector
from moneypath.map.figures import compact
from moneypath.map.graph import EdgeSignal, MapEdge
from moneypath.map.reads import compatible

RATIO, LAG, COUNT = "error ratio", "lag", "count"
# Built-in alert → the signal whose figure its threshold bounds, and how the edge's figure is compared.
THRESHOLDS = {
    AlertKey.PROVIDER_PARTIAL_OUTAGE: (Key.PROVIDER_REQUESTS_TOTAL, RATIO),
    AlertKey.LEDGER_WRITE_FAILURES: (Key.LEDGER_WRITES_TOTAL, RATIO),
    AlertKey.RECONCILIATION_LAG_HIGH: (Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS, LAG),
    AlertKey.DEAD_LETTERS_GROWING: (Key.DEAD_LETTERS_TOTAL, COUNT),
    AlertKey.SETTLEMENT_MISMATCH: (Key.RECONCILIATION_MISMATCHES_TOTAL, COUNT),
}


@dataclass(frozen=True)
class SloReading:
    """An SLO of a catalog: the signal its SLI reads, and its error ratio over its shortest window (None: absent)."""

    service: str
    key: str
    signal: str  # catalog signal key
    selector: Selector | None  # the SLI's total (None for a latency SLI: every observation)
    budget: float
    ratio: float | None
    record: str

    def reads(self, edge: MapEdge, signal: EdgeSignal) -> bool:
        return (edge.service == self.service and signal.key == self.signal
                and compatible(self.selector.matchers if self.selector else (), signal.selector.matchers))


def pct(x: float) -> str:
    return f"{compact(x * 100)} %"


def _slo_check(r: SloReading) -> Check:
    name = f"SLO {r.key}"
    if r.ratio is None:
        return Check(name=name, outcome=Outcome.NOT_MEASURED, why=f"{name}: {r.record} absent")
    within = r.ratio <= r.budget
    return Check(name=name, outcome=Outcome.of(within),
                 why=f"{name}: error ratio {pct(r.ratio)} {'within' if within else 'beyond'} its budget of "
                     f"{pct(r.budget)} ({r.record})", figures={"ratio": r.ratio, "budget": r.budget})


def _threshold_check(catalog: Catalog, key: str, how: str, limit: float, edge: MapEdge,
                     values: dict[tuple[str, str], float], window_s: float) -> Check:
    name = catalog.alert_name(key)
    rate = values.get((edge.id, "rate"))
    if how == RATIO:
        value, what, shown = values.get((edge.id, "errors")), "error ratio", pct
    elif how == LAG:
        value, what, shown = values.get((edge.id, "lag")), "lag", lambda v: f"{v:g} s"
    else:
        errors = values.get((edge.id, "errors"))
        if errors is not None and edge.signal("rate") is not None:
            errors = None if rate is None else errors * rate  # the errors figure is a share of the rate
        value = None if errors is None else errors * window_s
        what, shown = f"count in {window_s:g} s", lambda v: f"{v:.3g}"
    if value is None:
        return Check(name=name, outcome=Outcome.NOT_MEASURED,
                     why=f"{name}'s threshold: no {what} read on the edge now")
    within = value <= limit
    return Check(name=name, outcome=Outcome.of(within),
                 why=f"{what} {shown(value)} {'within' if within else 'beyond'} {name}'s threshold of {shown(limit)}",
                 figures={"value": value, "threshold": limit})


def judge(edge: MapEdge, catalog: Catalog | None, slos: list[SloReading], values: dict[tuple[str, str], float],
          window_s: float) -> list[Check]:
    """The edge's objectives, each judged; [] when its catalog declares none on its signals."""
    checks = [_slo_check(r) for r in slos if any(r.reads(edge, s) for s in edge.signals)]
    if catalog is None:
        return checks
    for key, (signal_key, how) in THRESHOLDS.items():
        alert = catalog.alerts.get(key)
        if alert is None or alert.threshold is None or alert.expr is not None:
            continue
        role = {RATIO: "errors", LAG: "lag", COUNT: "errors"}[how]
        signal = edge.signal(role)
        if signal is None or signal.key != signal_key or (how == RATIO and edge.signal("rate") is None):
            continue
        checks.append(_threshold_check(catalog, key, how, alert.threshold, edge, values, window_s))
    return checks
