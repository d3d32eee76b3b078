"""The money invariants a canary must never break, as PromQL scoped to the canary's pods, for the rollout tools'
own metric providers (Argo Rollouts' prometheus metric, Flagger's MetricTemplate).

Each query is one value, 0 while the invariant holds, above 0 once it is broken, and no value at all (or NaN)
when the canary's series are not there: the templates keep that third case "not measured", never a pass.
Counters are read as they stand, not through increase(): a canary's pods are new processes whose counters start
at 0 (the instrumentation creates them at 0), so their value is what happened since the canary started, and the
first duplicate is seen even on a series that has one sample. Only the invariants whose signals the catalog
declares, with their feature on, are exported. An acknowledged write lost has no Prometheus signal (the drills'
money checks read it from the database): the judge's verdict carries it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import Key


@dataclass(frozen=True)
class Invariant:
    name: str  # the rollout tool's metric name (lower-kebab-case)
    signal: str  # the catalog signal key it reads
    what: str  # what a value above 0 means, for the template's comment and the docs
    shape: Callable[[str], str]  # the metric's full name and label matchers -> the query


INVARIANTS = (
    Invariant("duplicate-charges", Key.DUPLICATE_CHARGES_TOTAL,
              "payments the canary charged more than once since it started",
              lambda series: f"sum({series})"),
    Invariant("ledger-imbalance", Key.LEDGER_IMBALANCE_MINOR,
              "minor units by which the canary's ledger postings fail to sum to 0 (largest currency)",
              lambda series: f"max(abs({series}))"),
)


def invariants(c: Catalog) -> list[Invariant]:
    """The invariants this catalog can be gated on: its signal declared and its feature on."""
    return [inv for inv in INVARIANTS if c.has(inv.signal)]


def query(c: Catalog, invariant: Invariant, matchers: str) -> str:
    """The invariant's PromQL on the series `matchers` (label matchers without braces) select."""
    return invariant.shape(f"{c.metric(invariant.signal)}{{{matchers}}}")
