"""Conservation of counts: what a run sent and had acknowledged against what the target's counter counted over
the same window. A verdict read from metrics is evidence only when the metrics saw the run's traffic.

Several workers without prometheus-client's multiprocess mode whose scrapes stick to one worker, another instance
scraped instead of the one driven, a counter incremented twice per payment, two scrape jobs on one target: no
series is absent and no counter goes backwards (moneypath.check.counter_resets sees nothing), yet the rates are
not the run's. The run knows its ground truth, so it checks.

The bounds are exact, not a loose tolerance. The counter's raw samples carry their scrape times (t0: the target's
first scrape at or after the window's start, so nothing counted before it is read; t1: its last scrape when read,
`settle_s` after the window's end), and the run knows when each call was sent and answered, so over (t0, t1]:

- every call acknowledged after it was sent after t0 and answered before t1 was counted in the window (the
  service counts a call before it answers it): counted >= acknowledged;
- no call sent after t1 or answered before t0 can be in the window: counted <= sent (calls that may be).

Only the clocks' skew (`skew_s`: the run's clock against Prometheus' and the service's) and, for a caller with
counts only (no call times), the calls in flight at the edges need slack. Per outcome where the catalog's counter
has an outcome label and the run can tell the answer's outcome (the run maps the answer's state to a label value):
counted[o] >= acknowledged[o]; the calls whose outcome the run cannot tell (no answer, a failure) may be counted
under any outcome. On a target with traffic of its own (`shared`, declared in the run config) only the lower
bound holds: the check is one-sided and says it cannot see double counting.

The counter is read on the series scraped from the address driven (`instance` = host:port), or, for a service
scraped on a metrics port of its own, on every instance Prometheus scrapes (`target` None: each instance from its
own scrapes, the lower bound over the window all of them cover) against every call to every address.

What counts as one on the counter comes from the run: a drill's request template names the step that authorizes
(`authorizes: true`; a single `authorize` call, or a flow of one step, is that step), and each attempt of that
step is one call here, retries included (each attempt may reach the service's counter once).

The tolerance and the settle time are decided in docs/decisions/0025-conservation-of-counts.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from moneypath._common.prometheus import PrometheusError
from moneypath._common.verdict import Check, not_measured, register
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import OUTCOME_LABEL, Key

NAME = "conservation"
ANY = "*"  # acknowledged calls whose outcome the run cannot tell apart
EVERY = "every scraped instance"  # a reconciliation over all the addresses driven, on every instance scraped
# docs/decisions/0025-conservation-of-counts.md: the relative tolerance and the slack in calls on either bound,
# the clock skew allowed at each edge, and how many scrape intervals the read waits after the window's end.
TOLERANCE = 0.02
SLACK_CALLS = 2
SKEW_S = 0.25
SETTLE_INTERVALS = 2.0
UNDER = "several workers without multiprocess mode, or another instance scraped"
TOO_FEW = "fewer than two scrapes since the window's start"  # not yet: a reader may wait for the next scrape
OVER = ("double counting: two scrape jobs on one target, or a counter incremented twice per call")


@dataclass(frozen=True)
class CountedCall:
    """One call that counts on the counter (one attempt of the authorizing step), as the run saw it."""

    sent_at: float  # unix seconds
    answered_at: float | None  # None: no answer (a transport error, a timeout)
    acknowledged: bool  # the answer said the call was done (2xx, or a status the step expects)
    outcome: str | None = None  # the counter's outcome label value the answer maps to; None: cannot tell
    target: str = ""  # the address it went to (host:port)


@dataclass(frozen=True)
class GroundTruth:
    """What one run sent to one target over one window, from its own records."""

    target: str  # the address driven, host:port
    start: float  # unix seconds
    end: float
    sent: int  # calls that may have been counted in the window (an upper bound)
    acknowledged: Mapping[str, int]  # outcome -> calls surely counted in the window; {"*": n} when unknown
    shared: bool = False  # the target serves traffic of its own: one-sided (counted >= acknowledged)
    in_flight: int = 0  # calls at the edges that may fall on either side (callers with counts, not call times)
    what: str = "authorizations"  # what one is, for the line
    may: Mapping[str, int] = field(default_factory=dict)  # outcome -> calls that may count under it (upper bound)

    @property
    def acknowledged_total(self) -> int:
        return sum(self.acknowledged.values())

    @classmethod
    def from_calls(cls, calls: Iterable[CountedCall], target: str | None, start: float, end: float, shared: bool = False,
                   what: str = "authorizations", skew_s: float = SKEW_S,
                   inner: tuple[float, float] | None = None) -> GroundTruth:
        """The exact bounds over (start, end], the sample times the counter was read at (`Counted.start/end`;
        `inner`: the window every scraped instance covers, when several were read, for the lower bound). `target`
        None: the calls to every address."""
        acknowledged: dict[str, int] = {}
        known: dict[str, int] = {}
        unknown = sent = 0
        lo, hi = inner or (start, end)
        for c in calls:
            if target is not None and c.target and c.target != target:
                continue
            answered = c.answered_at
            if c.sent_at <= end + skew_s and (answered is None or answered > start - skew_s):
                sent += 1
                if c.acknowledged and c.outcome is not None:
                    known[c.outcome] = known.get(c.outcome, 0) + 1
                else:
                    unknown += 1
            if c.acknowledged and answered is not None and c.sent_at > lo + skew_s and answered <= hi - skew_s:
                key = c.outcome if c.outcome is not None else ANY
                acknowledged[key] = acknowledged.get(key, 0) + 1
        may = {o: n + unknown for o, n in known.items()}
        return cls(target=target or EVERY, start=start, end=end, sent=sent, acknowledged=acknowledged, shared=shared,
                   what=what, may=may)


@dataclass(frozen=True)
class Counted:
    """What the target's counter counted between two of its scrapes (start, end], in total and per outcome; over
    several scraped instances each from its own first scrape at or after the asked start to its own last one."""

    metric: str
    target: str
    start: float  # the earliest window's start (the first scrape at or after the asked start)
    end: float  # the latest scrape read
    total: float
    by_outcome: Mapping[str, float] = field(default_factory=dict)  # empty: the counter has no outcome label
    scrape_interval_s: float | None = None
    inner: tuple[float, float] | None = None  # the window every instance read covers (several instances)
    instances: tuple[str, ...] = ()  # the scraped instances read


def address(url: str) -> str:
    """host:port of a service URL (the `instance` label Prometheus gives a target it scrapes by address)."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def settle_s(scrape_interval_s: float) -> float:
    """How long after a window's end its counter is read: two scrape intervals (decision 0025)."""
    return SETTLE_INTERVALS * scrape_interval_s


def increase(points: list[tuple[float, float]], start: float, end: float) -> float | None:
    """A counter series' increase over (start, end], its samples (t, v) sorted: from its last sample at or before
    start (none: a series born in the window counts from 0) to its last at or before end, a drop being a reset
    (the new value is all counted since). None when it has no sample at or before end."""
    before = [v for t, v in points if t <= start]
    inside = [v for t, v in points if start < t <= end]
    if not before and not inside:
        return None
    prev, total = (before[-1] if before else 0.0), 0.0
    for v in inside:
        total += v - prev if v >= prev else v
        prev = v
    return total


def counted(prom, catalog: Catalog, target: str | None, start: float, end: float | None = None, *,
            key: str = Key.AUTHORIZATIONS_TOTAL, errors: tuple[type[Exception], ...] = (PrometheusError,),
            clock: Callable[[], float] = time.time) -> Counted | str:
    """What the catalog's counter `key` counted on the series scraped from the target (instance = host:port; None:
    every instance scraped, each from its own scrapes) between its first scrape at or after `start` and its last
    scrape at or before `end` (default: now), read with one range-vector query (the raw samples and their times).
    `prom` has the common client's `instant(query, at)`. A str: why it is not measured (the counter off in the
    catalog, Prometheus did not answer, no series from that address, fewer than two scrapes in the window)."""
    if key not in catalog.signals:
        return not_measured(f"the catalog has no {key} counter to reconcile the run's calls with")
    metric = catalog.metric(key)
    now = clock()
    at = min(end, now) if end is not None else now
    reach = max(1, math.ceil(at - start + 1))
    selector = f'{{instance="{target}"}}' if target is not None else ""
    where = target if target is not None else EVERY
    try:
        result = prom.instant(f"{metric}{selector}[{reach}s]", at=at)
    except errors as exc:
        return not_measured(f"Prometheus did not answer the reconciliation ({metric} on {where}): {exc}")
    groups: dict[tuple[str, str], list[tuple[dict, list[tuple[float, float]]]]] = {}
    for r in result if isinstance(result, list) else []:
        labels = r.get("metric", {}) if isinstance(r, dict) else {}
        points = sorted((float(t), float(v)) for t, v in (r.get("values") or [])) if isinstance(r, dict) else []
        if points:
            groups.setdefault((labels.get("job", ""), labels.get("instance", "")), []).append((labels, points))
    if not groups:
        return not_measured(f"no {metric} series scraped from {where}"
                            + (f' (instance="{target}"): the address driven is not scraped by that name'
                               if target is not None else ""))
    outcomes = catalog.signals[key].labels.get(OUTCOME_LABEL) is not None
    total, by_outcome, windows, gaps = 0.0, {}, [], []
    for series in groups.values():
        times = sorted({t for _, points in series for t, _ in points})
        opening = [t for t in times if t >= start]
        if len(opening) < 2:
            continue
        t0, t1 = opening[0], opening[-1]
        windows.append((t0, t1))
        gaps += [b - a for a, b in zip(times, times[1:])]
        for labels, points in series:
            inc = increase(points, t0, t1)
            if inc is None:
                continue
            total += inc
            if outcomes:
                o = labels.get(OUTCOME_LABEL, "")
                by_outcome[o] = by_outcome.get(o, 0.0) + inc
    if not windows:
        return not_measured(f"{metric} on {where}: {TOO_FEW}")
    gaps.sort()
    outer = (min(w[0] for w in windows), max(w[1] for w in windows))
    inner = (max(w[0] for w in windows), min(w[1] for w in windows))
    return Counted(metric=metric, target=where, start=outer[0], end=outer[1], total=total, by_outcome=by_outcome,
                   scrape_interval_s=gaps[len(gaps) // 2] if gaps else None,
                   inner=inner if inner != outer else None,
                   instances=tuple(sorted(i for _, i in groups)))


def _ratio(counted: float, of: float) -> float | None:
    return counted / of if of else None


def reconcile(truth: GroundTruth | None, counted: Counted | str | None, tolerance: float = TOLERANCE,
              slack: int = SLACK_CALLS) -> Check:
    """pass when acknowledged*(1 - tolerance) - slack <= counted <= sent*(1 + tolerance) + slack, in total and per
    outcome where known (only the lower bound on a shared target); fail outside; not measured when the counter
    could not be read or the run sent nothing in the window. The `why` is the line every report prints."""
    if truth is None or counted is None:
        return Check.judged(NAME, None, not_measured("no run's calls or no counter to reconcile"))
    if isinstance(counted, str):
        return Check.judged(NAME, None, not_measured(counted))
    what, target = truth.what, truth.target
    slack_n = slack + truth.in_flight
    ack, sent, n = truth.acknowledged_total, truth.sent, counted.total
    figures = {"sent": sent, "acknowledged": ack, "counted": round(n, 3), "ratio": _ratio(n, sent),
               "window": [round(counted.start, 3), round(counted.end, 3)], "target": target,
               "tolerance": tolerance, "slack": slack_n, "metric": counted.metric, "shared": truth.shared,
               "acknowledged_by_outcome": dict(truth.acknowledged), "counted_by_outcome": dict(counted.by_outcome)}
    span = f"{counted.end - counted.start:.0f} s"
    if sent == 0 and ack == 0:
        return Check(name=NAME, outcome="not measured", figures=figures,
                     why=f"no {what} sent to {target} in the {span} window: nothing to reconcile {counted.metric} with")
    low = lambda a: a * (1 - tolerance) - slack_n  # noqa: E731
    high = lambda s: s * (1 + tolerance) + slack_n  # noqa: E731
    ratio = f"{n / sent:.2f}; " if sent else ""
    head = (f"the metrics counted {n:g} of {sent} {what} sent to {target} ({ratio}{ack} acknowledged)"
            if target != EVERY else
            f"the metrics counted {n:g} of {sent} {what} sent ({ratio}{ack} acknowledged), on {EVERY}")
    if n < low(ack):
        return Check(name=NAME, outcome="fail", figures=figures, why=f"{head}: {UNDER}")
    if not truth.shared and n > high(sent):
        return Check(name=NAME, outcome="fail", figures=figures, why=f"{head}: {OVER}")
    if counted.by_outcome:
        for o, a in sorted(truth.acknowledged.items()):
            if o == ANY:
                continue
            c = counted.by_outcome.get(o, 0.0)
            if c < low(a):
                return Check(name=NAME, outcome="fail", figures=figures,
                             why=f"{head}; outcome {o}: counted {c:g} of {a} acknowledged: {UNDER}, or the "
                                 "service records another outcome than it answers")
        if not truth.shared:
            for o, m in sorted(truth.may.items()):
                c = counted.by_outcome.get(o, 0.0)
                if c > high(m):
                    return Check(name=NAME, outcome="fail", figures=figures,
                                 why=f"{head}; outcome {o}: counted {c:g}, at most {m} could be: {OVER}")
    tail = (": within bounds (one-sided: a target with traffic of its own, double counting cannot be seen)"
            if truth.shared else f": within bounds ({tolerance:.0%} and {slack_n} call(s) of slack)")
    return Check(name=NAME, outcome="pass", figures=figures, why=head + tail)


register("check.conservation", reconcile)


def reconcile_calls(prom, catalog: Catalog, calls: Iterable[CountedCall], target: str | None, start: float, *,
                    shared: bool = False, what: str = "authorizations", key: str = Key.AUTHORIZATIONS_TOTAL,
                    errors: tuple[type[Exception], ...] = (PrometheusError,), tolerance: float = TOLERANCE,
                    clock: Callable[[], float] = time.time) -> Check:
    """Read the counter from `start` to now (call it `settle_s` after the window's end) and reconcile it with the
    run's calls to `target` over the exact sample times."""
    got = counted(prom, catalog, target, start, key=key, errors=errors, clock=clock)
    if isinstance(got, str):
        return reconcile(GroundTruth(target=target or EVERY, start=start, end=clock(), sent=0, acknowledged={}, what=what),
                         got, tolerance)
    truth = GroundTruth.from_calls(calls, target, got.start, got.end, shared=shared, what=what, inner=got.inner)
    return reconcile(truth, got, tolerance)
