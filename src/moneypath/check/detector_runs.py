"""A zero is a zero only from a detector seen running.

Some signals are a detector's output (moneypath.catalog.detectors): a job on its own schedule that counts duplicate
charges, reconciliation mismatches, the ledger's imbalance. The library creates their counters at 0, so a service
whose detector never runs — or has none — reads 0 as well as one whose detector found nothing. A check that reads
such a zero (the load test's "zero duplicate charges", a drill's money objective, the canary's money invariants)
asks here first whether the detector's heartbeat advanced within the check's own window, on the target's series:

- the heartbeat's latest value at the window's end is a run at or after the window's start: seen running (pass);
- anything else — no heartbeat declared, no series, a last run before the window, Prometheus not answering — is
  "not measured: the duplicate detector was not seen running (<heartbeat>{detector="duplicates"} did not advance
  between 13:02:10 and 13:04:10 UTC: ...)".

A figure that is not zero needs no heartbeat: a counter that grew is a detector that ran.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from moneypath._common.prometheus import PrometheusError
from moneypath._common.verdict import NOT_MEASURED, PASS, Check, register
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import DETECTOR_LABEL, Key
from moneypath.catalog.detectors import BUILTIN_DETECTORS, declared, detector_of, heartbeat, title

Instant = Callable[[str, float], list[dict]]  # an instant query at a time: Prometheus' samples
WINDOW_FMT = "%H:%M:%S"


def clock(t: float) -> str:
    return time.strftime(WINDOW_FMT, time.gmtime(t))


def heartbeat_selector(catalog: Catalog, detector: str, matchers: Iterable[str] = ()) -> str | None:
    """`<heartbeat>{detector="x",<matchers>}`, None while the catalog declares no heartbeat."""
    metric = heartbeat(catalog)
    if metric is None:
        return None
    own = f'{DETECTOR_LABEL}="{detector}"'
    return f"{metric}{{{','.join((own, *matchers))}}}"


def seen_running(catalog: Catalog, instant: Instant, detector: str, start: float, end: float,
                 matchers: Iterable[str] = (), errors: tuple[type[Exception], ...] = (PrometheusError,)) -> Check:
    """Whether `detector` completed a run between `start` and `end` (Unix seconds), read at `end` from its heartbeat
    on the series `matchers` select (the target's own); pass, or not measured with the line that says why."""
    name = f"detector.{detector}"

    def unseen(detail: str, **figures: float) -> Check:
        return Check(name=name, outcome=NOT_MEASURED, why=f"{title(detector)} was not seen running ({detail})",
                     figures={"detail": detail, **figures})

    sel = heartbeat_selector(catalog, detector, matchers)
    feature = BUILTIN_DETECTORS[detector].feature if detector in BUILTIN_DETECTORS else None
    if feature and not catalog.enabled(feature):
        return unseen(f"feature {feature} is off")
    if sel is None:
        return unseen(f"no signals.{Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS} in the catalog reports its runs")
    if detector not in declared(catalog):
        return unseen(f"signals.{Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS} declares no {DETECTOR_LABEL} {detector!r}")
    between = f"{sel} did not advance between {clock(start)} and {clock(end)} UTC"
    query = f"max({sel})"
    try:
        samples = instant(query, end)
    except errors as exc:
        return unseen(f"{query}: {exc}")
    values = [float(s["value"][1]) for s in samples]
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return unseen(f"{between}: Prometheus has no such series")
    last = max(values)
    if last < start:
        return unseen(f"{between}: its last run was at {clock(last)}", last_run=last)
    return Check(name=name, outcome=PASS, why=f"{title(detector)} ran at {clock(last)} UTC, within the window",
                 figures={"last_run": last})


def unseen_detectors(catalog: Catalog, instant: Instant, keys: Iterable[str], start: float, end: float,
                     matchers: Iterable[str] = (), errors: tuple[type[Exception], ...] = (PrometheusError,),
                     ) -> dict[str, str]:
    """Signal key → the not-measured line, for each of `keys` whose detector was not seen running in the window
    (a signal of no detector, or of a detector seen running, is left out). Each detector is asked once."""
    asked: dict[str, Check] = {}
    out: dict[str, str] = {}
    for key in keys:
        detector = detector_of(catalog, key)
        if detector is None:
            continue
        if detector not in asked:
            asked[detector] = seen_running(catalog, instant, detector, start, end, matchers, errors)
        if not asked[detector].ok:
            out[key] = asked[detector].why
    return out


register("check.detector_seen_running", seen_running)
