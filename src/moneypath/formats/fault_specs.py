"""What a file's fault may set at each fault API (the service's, the provider simulator's, the fault proxy's):
the shared vocabularies of moneypath.protocol.faults.vocabularies, their targets named by the catalog. Drill files and
scenario files check their faults against it, and the drill runner sets a fault by it."""

from __future__ import annotations

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import Key
from moneypath.protocol.faults.switches import Spec
from moneypath.protocol.faults.vocabularies import proxy_specs, service_specs, simulator_specs


def fault_specs(where: str, catalog: Catalog) -> dict[str, Spec]:
    """What the fault API at `where` can set, its targets named by the catalog."""
    providers = tuple(catalog.providers)
    if where == "service":
        queue = catalog.signals.get(Key.QUEUE_DEPTH)
        return service_specs(tuple(queue.labels.get("queue", ())) if queue else ())
    return proxy_specs(providers) if where == "faultproxy" else simulator_specs(providers)
