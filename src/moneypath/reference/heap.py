"""The garbage collector's settings for the reference processes (the service and the provider simulator).

CPython's cyclic collector walks every tracked object of a generation on each collection, and a full
collection walks all of them with the event loop stopped, so a pause grows with what the process keeps:

- `settle()` once after start-up: what the imports and the app built is frozen (never walked again; it is
  still freed as usual when nothing refers to it), and the first threshold is raised so that a request's
  garbage dies of its reference counts before a collection promotes it. Measured in the service at 275
  requests/s of the checkout mix (issue 27): the collector took ~9 % of its core before, 4-5 full
  collections every 10 s of ~100 ms each over the ~140,000 objects start-up built; after, ~1 %, none.
- `freeze_periodically()` in a process that keeps a record of everything it served (the simulator keeps
  every charge and reply, as a provider does): each freeze moves what is alive now out of the collector's
  sight, which costs O(1) (the generations' lists are spliced). Without it the simulator's full collections
  walked ~470,000 objects after 90,000 authorizations (~190 ms with the loop stopped, each provider call in
  flight waiting) and grew with the run. The price: a reference cycle that is already garbage when a
  freeze happens is never collected (reference counting frees everything else), a few objects a freeze.
- `trim()` (the service, every TRIM_INTERVAL_S): glibc returns a heap's free memory to the OS only from its
  top, so pages freed in the middle (SQLite's page and statement caches, the request threads' arenas) stay
  resident. In process, served over HTTP with the checkout mix (issue 27), malloc's free-but-resident memory
  grew ~5 MB per 10,000 requests while what it held in use grew ~1 MB; `malloc_trim(0)` gives those pages
  back (0.03-0.5 ms a call).
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
