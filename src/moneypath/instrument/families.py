"""One catalog signal = one Family: label guarding plus a cache of bound children.

The hot path is `family.child(values).observe(x)`: one dict lookup by the raw label
tuple, then the backend's pre-bound child. Values outside the catalog's set are folded
into "other" on the first sighting only; the raw-tuple cache is capped so hostile input
cannot grow memory without bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moneypath.catalog import OTHER, Signal

RAW_CACHE_LIMIT = 4096


class Family:
    __slots__ = ("signal", "exemplars", "_allowed", "_cache", "_bound", "_bind")

    def __init__(self, signal: Signal, bind: Callable[[tuple[str, ...]], Any], exemplars: bool):
        self.signal = signal
        self.exemplars = exemplars
        self._allowed = tuple(frozenset(values) for values in signal.labels.values())
        self._cache: dict[tuple, Any] = {}
        self._bound: dict[tuple[str, ...], Any] = {}
        self._bind = bind

    def child(self, values: tuple) -> Any:
        child = self._cache.get(values)
        if child is None:
            child = self._resolve(values)
        return child

    def _resolve(self, values: tuple) -> Any:
        if len(values) != len(self._allowed):
            raise ValueError(f"{self.signal.name} takes {len(self._allowed)} label values, got {len(values)}")
        normalized = tuple(v if v in allowed else OTHER for v, allowed in zip(values, self._allowed))
        child = self._bound.get(normalized)
        if child is None:
            child = self._bound[normalized] = self._bind(normalized)
        if len(self._cache) < RAW_CACHE_LIMIT:
            self._cache[values] = child
        return child

    def values_from(self, labels: dict[str, Any]) -> tuple:
        """Label values in catalog order from keyword arguments; a missing label is 'other'."""
        return tuple(labels.get(name, OTHER) for name in self.signal.labels)
