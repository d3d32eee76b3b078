"""A long audit chain in a service's database walked in several processes at once, each on a read-only connection
of its own (opened as `lint --db-url` opens one: moneypath.check.runbooks.open_database): the `spans` that
moneypath.protocol.audit.chain.verify_database cuts a chain into, for `moneypath audit verify --jobs`."""

from __future__ import annotations

from moneypath.check.runbooks import open_database
from moneypath.protocol.audit.chain import ChainVerdict, walk_span


def spans_in_processes(url: str):
    """walk_span over each range in a process of its own (forked: nothing to import again), in order."""

    def run(ranges, marks):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(len(ranges), mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_walk_span_in, [url] * len(ranges), ranges, [dict(marks)] * len(ranges)))

    return run


def _walk_span_in(url: str, span: tuple[int, int], marks) -> ChainVerdict:
    engine = open_database(url)
    try:
        with engine.connect() as conn:
            return walk_span(conn, *span, marks)
    finally:
        engine.dispose()
