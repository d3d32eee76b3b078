"""The garbage collector's settings for the reference processes (the service and the provider simulator).

CPython's cyclic collector walks every tracked object of a generation on each collection, and a full
collection walks all of them with the event loop stopped, so a pause grows with what the process keeps:

- `settle()` once after start-up: what the imports and the app built is frozen (never walked again; it is
  still freed as usual when nothing refers to it), and the first threshold is raised so that a request's
  garbage dies of its reference counts before a collection promotes it.
- `freeze_periodically()` in a process that keeps a record of everything it served (the simulator keeps
  every charge and reply, as a provider does): each freeze moves what is alive now out of the collector's
  sight, at O(1) cost. The price: a reference cycle that is already garbage when a freeze happens is never
  collected (reference counting frees everything else), a few objects a freeze.
- `trim()` (the service, every TRIM_INTERVAL_S): glibc returns a heap's free memory to the OS only from its
  top, so pages freed in the middle (SQLite's caches, the request threads' arenas) stay resident until
  `malloc_trim(0)` gives them back.

Why these settings: docs/decisions/0008-heap-and-garbage-collector.md
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc

# Allocations net of frees between young collections (CPython's default is 700).
YOUNG_THRESHOLD = 10_000
TRIM_INTERVAL_S = 10.0


def _malloc_trim():
    try:  # glibc only; elsewhere trim() does nothing
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def trim() -> None:
    """Return the allocator's free pages to the OS (glibc's malloc_trim)."""
    if _TRIM is not None:
        _TRIM(0)


def settle(young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Collect, freeze what start-up built and raise the first threshold."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(young_threshold, *gc.get_threshold()[1:])


async def freeze_periodically(every_s: float) -> None:
    """Freeze what is alive every `every_s` seconds, after a young collection (so that fresh cyclic garbage
    is collected rather than frozen), until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        gc.collect(1)
        gc.freeze()
