"""The canary drill's conservation of counts, per arm (moneypath.check.conservation): what the release's load sent
to each track and had acknowledged, against what that track's authorizations counter counted over the release,
read on the series the judge reads (the arm's selector: every instance scraped for it, a shop's web and worker
alike) after the scrape lag settled.

One call is one attempt of the request template's authorizing step, its outcome mapped by the template's
`counter` (as the drills' own reconciliation maps it, moneypath.drills.conservation_phase). An arm outside the
bounds, or whose counter could not be read, leaves the judge's metrics for that arm not measured: the release's
verdict is the canary's word for it, inconclusive, with the line (`apply`).
"""

from __future__ import annotations

from dataclasses import replace

from moneypath._common.verdict import NOT_MEASURED, PASS, Check
from moneypath.canary.results import WORDS
from moneypath.catalog import Catalog
from moneypath.check import conservation as cons
from moneypath.drills.baseline_load import Load
from moneypath.drills.conservation_phase import load_calls
from moneypath.drills.endpoints import TargetError
from moneypath.formats.requests import Requests


class Selected:
    """The drills' Prometheus client with each counter read narrowed to one arm: the core asks for the counter over
    every scraped instance (`<metric>[<range>]`); an arm's are those with its selector."""

    def __init__(self, prom, selector: str):
        self.prom, self.selector = prom, selector

    def instant(self, query: str, at: float | None = None):
        metric, _, window = query.partition("[")
        return self.prom.instant(f"{metric}{{{self.selector}}}[{window}", at)


def calls(load: Load, catalog: Catalog, requests: Requests, arm: int) -> list[cons.CountedCall]:
    """Every authorizing attempt the load sent to arm `arm` (its index among the load's URLs), each with the outcome
    its acknowledged answer counts under."""
    return load_calls(load, catalog, requests, arm)


def reconcile(prom, catalog: Catalog, requests: Requests, load: Load, arm: int, name: str, selector: str,
              start: float, shared: bool = False) -> Check:
    """One arm's reconciliation over its counter's scrapes from the first at or after `start` to the last one now
    (the caller waited the settle time after the load stopped)."""
    where = f"the {name} ({selector})"
    got = cons.counted(Selected(prom, selector), catalog, None, start, errors=(TargetError,))
    if isinstance(got, str):
        empty = cons.GroundTruth(target=where, start=start, end=start, sent=0, acknowledged={})
        return cons.reconcile(empty, got.replace(cons.EVERY, where))
    truth = cons.GroundTruth.from_calls(calls(load, catalog, requests, arm), None, got.start, got.end, shared=shared,
                                        inner=got.inner)
    return cons.reconcile(replace(truth, target=where), got)


def apply(result, checks: dict[str, Check]) -> None:
    """The release (drill_run.ReleaseResult) with its arms' reconciliations: kept as result.json's `conservation`;
    an arm not reconciled makes the judge's verdict on it inconclusive (not measured), with the arm's line."""
    result.conservation = {arm: {"outcome": c.outcome.value, "line": c.why} for arm, c in checks.items()}
    off = [(arm, c) for arm, c in checks.items() if c.outcome is not PASS]
    if not off:
        return
    said = result.verdict
    result.verdict, result.status = WORDS[NOT_MEASURED], NOT_MEASURED
    result.time_to_verdict_s = None
    lines = "; ".join(f"the {arm}'s metrics: {c.why.removeprefix('not measured: ')}" for arm, c in off)
    result.reason = (f"not measured: the judge's metrics for the {' and the '.join(a for a, _ in off)} are not the "
                     f"arm's (the judge said {said}): {lines}")
