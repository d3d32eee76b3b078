"""The reference processes' collector settings (moneypath.reference.heap)."""

import asyncio
import gc

import pytest

from moneypath.reference import heap


@pytest.fixture
def collector():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settle_freezes_what_start_up_built_and_collects_the_young_less_often(collector):
    thresholds = gc.get_threshold()
    built_at_start_up = [[i] for i in range(1000)]  # containers the collector would walk on every full collection
    heap.settle()
    assert gc.get_freeze_count() >= len(built_at_start_up)
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, *thresholds[1:])
    assert heap.YOUNG_THRESHOLD > thresholds[0]


def test_what_a_process_keeps_leaves_the_full_collections_walk_at_each_freeze(collector):
    async def run():
        job = asyncio.create_task(heap.freeze_periodically(0.01))
        kept_before = gc.get_freeze_count()
        store = {i: [i] for i in range(5000)}  # a simulator's charges and replies, kept for the run
        await asyncio.sleep(0.1)
        job.cancel()
        return kept_before, store

    kept_before, store = asyncio.run(run())
    assert gc.get_freeze_count() - kept_before >= len(store)


def test_a_cycle_that_is_garbage_before_a_freeze_is_still_collected(collector):
    import weakref

    class Node:
        pass

    async def run():
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b  # garbage now, still in the young generation
        job = asyncio.create_task(heap.freeze_periodically(0.01))
        await asyncio.sleep(0.05)
        job.cancel()
        return ref

    assert asyncio.run(run())() is None  # the young collection before the freeze took it


def test_trim_gives_freed_pages_back_without_touching_what_is_in_use():
    kept = [bytes(200) for _ in range(1000)]
    freed = [bytearray(64 * 1024) for _ in range(200)]  # ~13 MB in the middle of the heap, then freed
    del freed
    heap.trim()  # a no-op where the C library has no malloc_trim; must never fail
    assert all(len(b) == 200 for b in kept)
