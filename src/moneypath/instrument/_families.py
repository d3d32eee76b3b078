"""One catalog signal = one Family: label guarding plus a cache of bound children.

The hot path is `family.child(values).observe(x)`: one dict lookup by the raw label
tuple, then the backend's pre-bound child. Values arrive in the caller's label order
(`order`), which need not be the catalog's; folding unknown values into "other" and
reordering happen on the first sighting only. The raw-tuple cache is capped so hostile
input cannot grow memory without bound.

A value outside the catalog (a typo such as "stirpe", or a value the catalog forgot) is
reported to `on_unknown` every time it is recorded, so its tuple is not cached while there is
an `on_unknown`: the known-value path stays one lookup, the rare unknown one pays for the report.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

from moneypath.catalog import OTHER, Signal

RAW_CACHE_LIMIT = 4096
# Counters with at most this many declared label combinations are exported at 0 from the
# start: `increase()` cannot see the first event of a series that is born at 1, and the
# first duplicate charge or dead letter is exactly the one that must page.
# Small counters include "other", so the first event from an undeclared value pages too.
INITIALIZE_COUNTERS_UP_TO = 256
INITIALIZE_OTHER_UP_TO = 64


class Family:
    __slots__ = ("signal", "order", "exemplars", "on_unknown", "_allowed", "_to_catalog", "_cache", "_bound", "_bind")

    def __init__(self, signal: Signal, bind: Callable[[tuple[str, ...]], Any], exemplars: bool,
                 order: tuple[str, ...] | None = None):
        """`bind` takes values in catalog label order; `order` is the caller's label order."""
        self.signal = signal
        self.order = order = tuple(order) if order is not None else signal.label_names
        if sorted(order) != sorted(signal.label_names):
            raise ValueError(f"{signal.name}: labels {list(order)} do not match the catalog's {list(signal.label_names)}")
        self.exemplars = exemplars
        # value → the catalog's own string: an equal str subclass (a StrEnum member, say) is
        # exported as the catalog spelling, never as whatever its str() returns.
        self._allowed = tuple({v: v for v in signal.labels[name]} for name in order)
        self._to_catalog = tuple(order.index(name) for name in signal.label_names)
        self._cache: dict[tuple, Any] = {}
        self._bound: dict[tuple[str, ...], Any] = {}
        self._bind = bind
        # (signal, label name, value) for each value recorded as "other" that the caller did not pass as "other".
        self.on_unknown: Callable[[Signal, str, Any], None] | None = None

    def child(self, values: tuple) -> Any:
        child = self._cache.get(values)
        if child is None:
            child = self._resolve(values)
        return child

    def _resolve(self, values: tuple) -> Any:
        if len(values) != len(self._allowed):
            raise ValueError(f"{self.signal.name} takes {len(self._allowed)} label values, got {len(values)}")
        guarded = [allowed.get(v, OTHER) for v, allowed in zip(values, self._allowed)]
        known = True
        for name, value, folded in zip(self.order, values, guarded):
            if folded is OTHER and value != OTHER:
                known = False
                if self.on_unknown is not None:
                    self.on_unknown(self.signal, name, value)
        normalized = tuple(guarded[i] for i in self._to_catalog)
        child = self._bound.get(normalized)
        if child is None:
            child = self._bound[normalized] = self._bind(normalized)
        if (known or self.on_unknown is None) and len(self._cache) < RAW_CACHE_LIMIT:
            self._cache[values] = child
        return child

    def values_from(self, labels: dict[str, Any]) -> tuple:
        """Label values in this family's order from keyword arguments; a missing label is 'other'."""
        return tuple(labels.get(name, OTHER) for name in self.order)


def initialize(family: Family) -> None:
    """A small counter's series, created at 0 (see INITIALIZE_COUNTERS_UP_TO)."""
    declared = [family.signal.labels[name] for name in family.order]
    with_other = [[*values, OTHER] for values in declared]
    if math.prod(len(v) for v in with_other) <= INITIALIZE_OTHER_UP_TO:
        combos = with_other
    elif math.prod(len(v) for v in declared) <= INITIALIZE_COUNTERS_UP_TO:
        combos = declared
    else:
        return
    for values in itertools.product(*combos):
        family.child(values)
