"""Background jobs of the service: run a blocking job every N seconds off the event loop.

A failing run is logged (once per distinct error) and the loop goes on: a broken
reconciliation must not stop the outbox, and neither may stop payments.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

log = logging.getLogger("moneypath.refservice.workers")


async def every(interval_s: float, job: Callable[[], object], name: str) -> None:
    last_error = None
    while True:
        try:
            await run_in_threadpool(job)
            last_error = None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - logged; the next run may succeed
            if repr(exc) != last_error:
                last_error = repr(exc)
                log.warning("%s run failed: %s: %s (retrying every %.1f s)", name, type(exc).__name__, exc, interval_s)
        await asyncio.sleep(interval_s)


class Jobs:
    """Started in the app's lifespan, cancelled on shutdown."""

    def __init__(self):
        self._jobs: list[tuple[float, Callable[[], object], str]] = []
        self._tasks: list[asyncio.Task] = []

    def add(self, interval_s: float, job: Callable[[], object], name: str) -> None:
        self._jobs.append((interval_s, job, name))

    def start(self) -> None:
        self._tasks = [asyncio.create_task(every(i, job, name), name=name) for i, job, name in self._jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
