"""A backend that records nothing: the same API with metrics switched off (benchmarks'
uninstrumented baseline, or a service that must run with metrics disabled)."""

from __future__ import annotations

from moneypath.catalog import Signal
from moneypath.instrument._families import Family


class _Nothing:
    __slots__ = ()

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, value: float, exemplar: dict | None = None) -> None:
        pass

    def set(self, value: float) -> None:
        pass


_NOTHING = _Nothing()


class NullBackend:
    name = "none"

    def family(self, signal: Signal, order: tuple[str, ...] | None = None) -> Family:
        return Family(signal, lambda values: _NOTHING, exemplars=False, order=order)
