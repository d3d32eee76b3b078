"""Print what a scrape of a multi-process service would return (text format)."""

import sys

from prometheus_client import CollectorRegistry

from moneypath.instrument.exposition import mark_process_dead, render

if __name__ == "__main__":
    for pid in sys.argv[1:]:
        mark_process_dead(int(pid))
    from moneypath.instrument.exposition import collection_registry

    sys.stdout.write(render(collection_registry(CollectorRegistry()), "")[0].decode())
