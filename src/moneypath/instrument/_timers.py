"""The context managers `MoneyPath.time_authorization` and `time_ledger_write` return: they time the block
and record it through the MoneyPath that made them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from moneypath.instrument._timeouts import is_timeout

if TYPE_CHECKING:
    from moneypath.instrument._signals import MoneyPath


class AuthorizationTimer:
    __slots__ = ("_mp", "_provider", "_method", "_start", "outcome")

    def __init__(self, mp: MoneyPath, provider: str, method: str):
        self._mp, self._provider, self._method = mp, provider, method
        self.outcome: str | None = None

    def __enter__(self) -> AuthorizationTimer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        outcome = self.outcome
        if outcome is None:
            outcome = "timeout" if is_timeout(exc_type, exc) else "error"
        self._mp.record_authorization(self._provider, self._method, outcome, time.perf_counter() - self._start)
        return False


class LedgerTimer:
    __slots__ = ("_mp", "_start", "outcome")

    def __init__(self, mp: MoneyPath):
        self._mp = mp
        self.outcome: str | None = None

    def __enter__(self) -> LedgerTimer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        outcome = self.outcome or ("failed" if exc_type is not None else "committed")
        self._mp.record_ledger_write(outcome, time.perf_counter() - self._start)
        return False
