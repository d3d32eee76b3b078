"""The drill's conservation of counts (moneypath.check.conservation): at the end of the baseline and of the fault
(or peak) stretch, what the drill's own load sent to each address it drives and had acknowledged is reconciled
with what that address's authorizations counter counted over the same scrapes.

Outside the bounds (or not readable) the stretch's counters are not the run's: the reason joins the target's
`counters_not_data` (the path the watcher's counter resets take), so every check that reads rates from then on —
the steady state, the expected pages' detection, the runbook's diagnosis queries, the recovery, the key series —
is not measured with the reconciliation line. Each line goes on the timeline and into the journal's
`conservation`.

One call is one attempt of the request template's authorizing step (`authorizes: true`; a single `authorize`
call); the template's `counter` says how its answers map to the counter's outcomes and which answers the service
does not count (moneypath.formats.requests.Counter). A target with traffic of its own (`target.shared` in the
run config) is reconciled one-sided.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from moneypath._common.verdict import PASS, Check
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import OUTCOME_LABEL, Key
from moneypath.check import conservation
from moneypath.check.conservation import Counted, CountedCall, GroundTruth
from moneypath.check.counter_resets import reads_rates
from moneypath.drills.baseline_load import Load
from moneypath.drills.endpoints import TargetError
from moneypath.drills.journal import Reconciliation
from moneypath.formats.requests import Requests

POLL_S = 0.5
FIRST_READ_WAIT_S = 30.0  # the longest wait for a scrape after the stretch's end while the interval is not known


class Conservation:
    """The reconciliations of one drill run (`ctx`: the DrillRun)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.loads: list[Load] = []  # every load the drill started: the headroom probe's, the baseline's
        self.records: list[Reconciliation] = []
        self.not_data: str | None = None  # the first line outside the bounds: what makes the rates not data
        self.interval_s: float | None = None

    def track(self, load: Load) -> Load:
        self.loads.append(load)
        return load

    def counters_not_data(self, other: Callable[[], str | None]) -> Callable[[], str | None]:
        """`other` (the watcher's counter resets), or this run's reconciliation line once one was outside."""
        return lambda: other() or self.not_data

    def calls(self) -> list[CountedCall]:
        """Every authorizing attempt of every load, with its address and the outcome its answer counts under."""
        return [c for load in self.loads
                for c in load_calls(load, self.ctx.catalog, self.ctx.drill.load.requests)]

    def stretch(self, phase: str, start: float) -> list[Check]:
        """Reconcile (start, now]: per address driven when Prometheus scrapes each by that address, else over every
        instance it scrapes (a service scraped on a metrics port of its own) against every call to every address."""
        end = self.ctx.clock()
        every = self._read(None, start, end)
        addresses = [conservation.address(u) for u in self.ctx.target.services]
        if isinstance(every, Counted) and all(a in every.instances for a in addresses):
            return [self._judge(phase, a, self._read(a, start, end), start, end) for a in addresses]
        return [self._judge(phase, None, every, start, end)]

    def _judge(self, phase: str, target: str | None, got: Counted | str, start: float, end: float) -> Check:
        ctx = self.ctx
        what = "authorizations"
        if isinstance(got, str):
            check = conservation.reconcile(GroundTruth(target=target or conservation.EVERY, start=start, end=end,
                                                       sent=0, acknowledged={}, what=what), got)
        else:
            truth = GroundTruth.from_calls(self.calls(), target, got.start, got.end, inner=got.inner, what=what,
                                           shared=bool(getattr(ctx.target, "shared", False)))
            check = conservation.reconcile(truth, got)
        where = target or conservation.EVERY
        self.records.append(Reconciliation(phase=phase, target=where, status=str(check.outcome), line=check.why,
                                           figures=dict(check.figures)))
        ctx.event("check" if check.outcome is PASS else "note", f"conservation ({phase}): {check.why}",
                  {"conservation": phase, **check.figures})
        if check.outcome is not PASS and self.not_data is None:
            self.not_data = check.why
        return check

    def _read(self, target: str | None, start: float, end: float) -> Counted | str:
        """The counter over the target's scrapes from the first at or after `start` to the first after `end`
        (waiting for it, about two scrape intervals: docs/decisions/0025-conservation-of-counts.md)."""
        ctx = self.ctx
        wait = conservation.settle_s(self.interval_s) if self.interval_s else FIRST_READ_WAIT_S
        deadline = time.monotonic() + wait
        while True:
            got = conservation.counted(ctx.prom, ctx.catalog, target, start, errors=(TargetError,), clock=ctx.clock)
            if isinstance(got, Counted) and got.scrape_interval_s and self.interval_s is None:
                self.interval_s = got.scrape_interval_s
                deadline = min(deadline, time.monotonic() + conservation.settle_s(self.interval_s))
            covered = got.end > end + conservation.SKEW_S if isinstance(got, Counted) else conservation.TOO_FEW not in got
            if covered or time.monotonic() >= deadline:
                return got
            ctx.tick()
            time.sleep(POLL_S)

    def mark_series(self, series: dict) -> dict:
        """The key series whose queries read rates, each with why its rates are not the run's (when they are not)."""
        why = self.ctx.counters_not_data()
        if why:
            for panel in series.values():
                if reads_rates(panel.query):
                    panel.not_data = why
        return series


def load_calls(load: Load, catalog: Catalog, requests: Requests, arm: int | None = None) -> list[CountedCall]:
    """Every authorizing attempt `load` sent (to its URL number `arm` only, when given: then without its address),
    with its address and the outcome its acknowledged answer counts under (the template's `counter.outcomes`, else
    the state itself when the counter's outcome label declares it)."""
    signal = catalog.signals.get(Key.AUTHORIZATIONS_TOTAL)
    labels = set(signal.labels.get(OUTCOME_LABEL) or ()) if signal is not None else set()
    mapping = requests.counter.outcomes
    addresses = [conservation.address(u) for u in load.service_urls] if arm is None else []
    out = []
    for o in load.snapshot():
        if arm is not None and o.instance != arm:
            continue
        state = o.auth_state
        label = mapping.get(state, state if state in labels else None) if state is not None else None
        last = len(o.auth_calls) - 1
        for i, (sent_at, answered_at) in enumerate(list(o.auth_calls)):
            acked = i == last and o.payment_id is not None and not o.not_counted
            out.append(CountedCall(sent_at, answered_at, acked, label if acked else None,
                                   addresses[o.instance] if arm is None else ""))
    return out
