"""The target's headroom for a drill's peak, measured before the baseline (load.peak.headroom).

A healthy-peak drill proves that nothing pages at peak; on a machine that cannot carry the peak the service
sheds and LoadShedding pages, a FAIL that is the machine's. So the runner first asks `spare` more than the peak
for a few seconds, with few payments in flight (under the admission limit: it finds capacity without being
refused), and counts what was served. Served enough: the peak runs as written. Less: the peak scales down to
what was served less the spare, and runs if that is still `min_multiple` baselines or more; else the drill is
not measured, with the figures. The probe's payments are real ones; they leave the rule windows during the
baseline that follows.

Its stretch is reconciled like every stretch that sends traffic (`reconcile`: the drill's conservation of counts,
moneypath.drills.conservation_phase): a probe whose payments the target's counter did not count is no headroom
measured, since the peak it would admit is judged on those counters ("nothing may page").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from moneypath._common.verdict import PASS, Check
from moneypath.drills.baseline_load import Load
from moneypath.formats.drill import Headroom

KEPT_UP = 0.95  # served at least this share of what was asked: the target kept up


@dataclass(frozen=True)
class HeadroomProbe:
    asked: float  # payments/s asked
    served: float  # payments/s started within the probe and acknowledged
    refused: int
    failed: int  # not acknowledged, refusals included
    in_flight: int
    seconds: float
    conservation: Check | None = None  # the probe's stretch reconciled with the counter; None: not reconciled


@dataclass(frozen=True)
class PeakPlan:
    """What the peak does after the probe: rate None is not measured (`reason` says why, with the figures)."""

    rate: float | None
    reason: str


def probe(make_load: Callable[[float, int], Load], peak_rate: float, spec: Headroom,
          clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
          reconcile: Callable[[float], list[Check]] | None = None) -> HeadroomProbe:
    """Ask peak x (1 + spare) payments/s for `spec.probe` seconds, at most `spec.in_flight` in flight; then
    `reconcile` the stretch from its start (one check per address driven, the first not passing kept)."""
    asked = peak_rate * (1 + spec.spare)
    load = make_load(asked, spec.in_flight)
    start = clock()
    load.start()
    try:
        sleep(spec.probe)
    finally:
        end = clock()
        load.stop()
    done = load.snapshot()  # every payment the probe started, each finished: stop() waits for those in flight
    served = sum(1 for o in done if o.payment_id is not None)
    checks = reconcile(start) if reconcile is not None else []
    return HeadroomProbe(asked=asked, served=served / max(end - start, 1e-9), refused=sum(o.refused for o in done),
                         failed=sum(1 for o in done if o.payment_id is None), in_flight=spec.in_flight,
                         seconds=end - start, conservation=next((c for c in checks if c.outcome is not PASS),
                                                                checks[0] if checks else None))


def plan(result: HeadroomProbe, peak_rate: float, baseline_rate: float, spec: Headroom) -> PeakPlan:
    figures = (f"the target served {result.served:.1f} payments/s of {result.asked:.1f} asked in "
               f"{result.seconds:.1f} s with at most {result.in_flight} in flight ({result.failed} not acknowledged, "
               f"{result.refused} refused)")
    counts = result.conservation
    if counts is not None and counts.outcome is not PASS:
        return PeakPlan(None, f"headroom not measured: {figures}, but {counts.why.removeprefix('not measured: ')}: the "
                          "peak would be judged on counters that did not count the drill's payments")
    if result.served >= KEPT_UP * result.asked:
        return PeakPlan(peak_rate, f"headroom: {figures}; the peak of {peak_rate:g}/s runs as written")
    scaled = int(result.served / (1 + spec.spare))
    least = spec.min_multiple * baseline_rate
    if scaled >= least:
        return PeakPlan(float(scaled), f"headroom: {figures}; the peak scales from {peak_rate:g}/s to {scaled}/s "
                                   f"({scaled / baseline_rate:.1f}x the baseline, {spec.spare:.0%} kept free)")
    return PeakPlan(None, f"headroom not there: {figures}; the peak needs {least:g}/s at the least "
                      f"({spec.min_multiple:g}x the baseline {baseline_rate:g}/s) with {spec.spare:.0%} free: the "
                      "peak would measure this machine, not the alerting")
