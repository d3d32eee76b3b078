"""What the load generator's health (worker_health) does to a run's gates: never a silent lower rate and a pass.

The gates that depend on the rate offered (gates.RATE_GATES) are not measured over a stretch where the asked rate
did not hold (a worker lost, until the rate held again):
- the rate held again: those gates are judged on the rest (Locust's: the run's stats less the stretch's, from the
  stats the master kept around it; the service's: Prometheus from the rate holding again to the end), each saying
  so; one that cannot be judged on the rest (an overload phase, a drift, a baseline on the whole run) is not
  measured;
- it never held again: each of them that passed is not measured (one that failed at a lower rate stays failed);
- the generator was the bottleneck (worker_health, generator_bound): each of them that passed is not measured; short
  of CPU, so is every one read on Locust's clock (a saturated generator's own timings and timeouts are its, not
  the service's); short of users only, Locust's timings are the service's and a failed one stays failed.
Pure but for reading the stats snapshots; locust_run calls it.
"""

from __future__ import annotations

import json
from pathlib import Path

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, not_measured
from moneypath.loadtest.command.gates import RATE_GATES, Gate
from moneypath.loadtest.command.stats import steady_entries
from moneypath.loadtest.command.worker_health import BOTTLENECK, WorkerHealth


def snapshots(path: Path) -> dict[float, list[dict]]:
    """The stats the master kept around a loss (worker_watch): seconds into the run -> entries."""
    try:
        return {float(t): e for t, e in json.loads(Path(path).read_text()).items()}
    except (OSError, ValueError):
        return {}


def rest_entries(final: list[dict], kept: dict[float, list[dict]], spans: list[tuple[float, float | None]]
                 ) -> list[dict] | None:
    """The run's stats without the stretches: the final entries less (the stats at its end - at its start), with
    the snapshot at or before its start and at or after its end (a little more left out, never less). None when a
    stretch is open or a snapshot is missing."""
    out = final
    for a, b in spans:
        if b is None:
            return None
        before = [t for t in kept if t <= a]
        after = [t for t in kept if t >= b]
        if not before or not after:
            return None
        stretch = steady_entries(kept[min(after)], kept[max(before)])
        out = steady_entries(out, stretch)
    return out


def _why(health: WorkerHealth) -> str:
    return "; ".join(loss.line(health.names.get(loss.worker, loss.worker)) for loss in health.losses)


def apply(gates: list[Gate], health: WorkerHealth | None, rejudged: dict[str, Gate] | None = None,
          names: frozenset[str] = RATE_GATES) -> list[Gate]:
    """The gates with the generator's health applied (see the module's docstring); `rejudged`: the rate gates judged
    on the rest, when the rate held again after every loss."""
    if health is None or not (health.stretches or health.bound):
        return gates
    out = []
    for gate in gates:
        if gate.name not in names or gate.skipped:
            out.append(gate)
        elif health.bound:
            if gate.outcome is PASS or (gate.source == "locust" and health.short_of_cpu):
                why = f"{BOTTLENECK}: {'; '.join(health.bound)}"
                gate = Gate(gate.name, gate.title, gate.source, NOT_MEASURED, gate.observed, gate.limit,
                            not_measured(f"{gate.title}: {why}"))
            out.append(gate)
        elif health.recovered:
            again = (rejudged or {}).get(gate.name)
            if again is None or again.skipped:
                gate = Gate(gate.name, gate.title, gate.source, NOT_MEASURED, gate.observed, gate.limit,
                            not_measured(f"{gate.title}: not judged without {health.stretch_text()}, where the asked "
                                         f"rate did not hold ({_why(health)})"))
            else:
                judged = (f"from {max(b for _, b in health.stretches):.0f} s to the end" if gate.source == "prometheus"
                          else f"without {health.stretch_text()}")
                gate = Gate(again.name, again.title, again.source, again.outcome, f"{again.observed} ({judged}: a "
                            "load-generator worker was lost)", again.limit, again.reason)
            out.append(gate)
        else:
            if gate.outcome is not FAIL:
                gate = Gate(gate.name, gate.title, gate.source, NOT_MEASURED, gate.observed, gate.limit,
                            not_measured(f"{gate.title}: the asked rate never held again after a load-generator "
                                         f"worker was lost ({_why(health)})"))
            out.append(gate)
    return out
