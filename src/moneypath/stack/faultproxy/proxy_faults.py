"""The proxy's faults: the shared switches (moneypath.protocol.faults.switches) plus the work held under each setting,
released when the setting is cleared, replaced or ends."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from moneypath.protocol.correlation_header import HEADER as CORRELATION_HEADER
from moneypath.protocol.faults.switches import MAX_DURATION_S, Faults
from moneypath.protocol.faults.vocabularies import proxy_specs
from moneypath.stack.faultproxy.proxy_config import SEED

log = logging.getLogger("moneypath.faultproxy")


@dataclass
class _Window:
    """One fault setting's end, and the work waiting under it (released when the setting goes)."""

    end: float
    waiters: set[asyncio.Future] = field(default_factory=set)

    def release(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters.clear()


def _wake(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


class ProxyFaults:
    """The proxy's faults: the shared switches plus what the proxy holds under them, so that clearing a
    fault, replacing it, or its end releases held answers, delayed requests and held webhooks."""

    def __init__(self, providers: tuple[str, ...], seed: int = SEED, clock: Callable[[], float] = time.monotonic):
        self.faults = Faults(proxy_specs(providers), seed, clock)
        self._clock = clock
        self._windows: dict[tuple[str, str | None], _Window] = {}
        self._fire_log: dict[tuple[str, str], tuple[int, float]] = {}
        self.fired: dict[tuple[str, str], int] = {}

    def set(self, name: str, body: object) -> dict:
        described = self.faults.set(name, body)
        key = (name, described.get("provider"))
        if old := self._windows.pop(key, None):
            old.release()  # work held under the old setting goes now
        self._windows[key] = _Window(self._clock() + described.get("ends_in_s", MAX_DURATION_S))
        self.fired.pop(key, None)
        self._fire_log.pop(key, None)
        log.info("fault set: %s", json.dumps(described, sort_keys=True))
        return described

    def clear(self, name: str, provider: str | None = None) -> list[dict]:
        cleared = self.faults.clear(name, provider)
        for fault in cleared:
            if window := self._windows.pop((name, fault.get("provider")), None):
                window.release()
            log.info("fault cleared: %s", json.dumps(fault, sort_keys=True))
        return cleared

    def active(self) -> list[dict]:
        """The active faults, each with how often it fired since it was set."""
        return [f | {"fired": self.fired.get((f["name"], f.get("provider")), 0)} for f in self.faults.active()]

    def release_all(self) -> None:
        for window in self._windows.values():
            window.release()

    def fires(self, name: str, provider: str, headers: Mapping[str, str] | None = None) -> dict | None:
        """The fault's parameters when it fires on this call (Faults.fires: at once when no fault is set),
        counted and logged with the call's correlation id from `headers`."""
        params = self.faults.fires(name, provider)
        if params is not None:
            self._fired(name, provider, _correlation_id(headers) if headers is not None else None)
        return params

    async def hold(self, name: str, provider: str, seconds: float) -> None:
        """Wait `seconds`, or less: until this fault is cleared, replaced or its duration ends."""
        window = self._windows.get((name, provider))
        seconds = min(seconds, window.end - self._clock() if window else MAX_DURATION_S)
        if seconds <= 0:
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(seconds, _wake, waiter)
        if window is not None:
            window.waiters.add(waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            if window is not None:
                window.waiters.discard(waiter)

    def _fired(self, name: str, provider: str, correlation_id: str | None) -> None:
        """INFO at most once a second per fault and provider, with the count since the last line."""
        key = (name, provider)
        self.fired[key] = self.fired.get(key, 0) + 1
        now = self._clock()
        count, last = self._fire_log.get(key, (0, -math.inf))
        if now - last < 1.0:
            self._fire_log[key] = (count + 1, last)
            return
        self._fire_log[key] = (0, now)
        extra = {"fault": name, "provider": provider, "fired": count + 1}
        if correlation_id:
            extra["correlation_id"] = correlation_id
        log.info("fault %s fired on %s (%d time%s since the last line)", name, provider, count + 1,
                 "" if count == 0 else "s", extra=extra)


def _correlation_id(headers: Mapping[str, str]) -> str | None:
    value = headers.get(CORRELATION_HEADER)
    return value if value and len(value) <= 64 and value.isprintable() else None
