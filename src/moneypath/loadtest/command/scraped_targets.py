"""Before any load: the series a load test or capacity plan will judge come from what it drives. A few answers
from each address the users will load (GET /metrics: the library names its process on every answer and records
none of /metrics) must name processes Prometheus scrapes (moneypath.check.scraped_identity); one that is not
refuses the run with the check's line (exit 2). docs/decisions/0026-instance-identity-header.md
"""

from __future__ import annotations

import httpx

from moneypath._common.prometheus import Prometheus
from moneypath._common.verdict import FAIL, Check
from moneypath.catalog import Catalog
from moneypath.check import scraped_identity
from moneypath.loadtest.command.inputs import UsageError
from moneypath.loadtest.command.run_types import LoadTarget

PROBES = 4  # answers per address: behind a balancer, more than one instance may answer
PATH = "/metrics"


def seen_at(url: str, probes: int = PROBES) -> set[str]:
    """The identities `url` answers as (none when it does not answer or sets no header)."""
    headers = []
    with httpx.Client(timeout=5.0) as client:
        for _ in range(probes):
            try:
                headers.append(client.get(url.rstrip("/") + PATH).headers)
            except httpx.HTTPError:
                break
    return scraped_identity.seen_in(headers)


def proofs(c: Catalog, target: LoadTarget, reader: str) -> list[Check]:
    """One check per address the load goes to; none when the run reads no Prometheus or started its own stack."""
    if not target.prometheus or target.owned:
        return []
    with Prometheus(target.prometheus) as prom:
        return [scraped_identity.prove(prom, c, url, seen_at(url), reader) for url in (target.host, *target.instances)]


def refuse_unscraped(c: Catalog, target: LoadTarget, say=print, reader: str = "the load test") -> None:
    """UsageError with the line of an address whose answers name a process Prometheus does not scrape; otherwise
    says what each check found (scraped, or not measured: a target down, answers without the header)."""
    for check in proofs(c, target, reader):
        if check.outcome is FAIL:
            raise UsageError(check.why)
        say(f"instruments: {check.why}")
