"""Before anything is broken: the instruments a drill will read are the target's. The preflight's answers name the
processes that answered (MoneyPath-Instance); each must be one Prometheus scrapes (moneypath.check.scraped_identity),
or the drill would judge another instance's series. docs/decisions/0026-instance-identity-header.md
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from moneypath._common.prometheus import Prometheus
from moneypath._common.verdict import FAIL, Check
from moneypath.catalog import Catalog
from moneypath.check import scraped_identity
from moneypath.drills.endpoints import Target


def proof(catalog: Catalog, target: Target, seen: Collection[str], reader: str = "the drill") -> Check | None:
    """The check on the target's Prometheus; None when the run reads no Prometheus."""
    return proof_at(catalog, target.prometheus, target.service, seen, reader) if target.prometheus else None


def proof_at(catalog: Catalog, prometheus: str, service: str, seen: Collection[str], reader: str) -> Check:
    """The check for the answers `seen` from `service`, on the Prometheus at `prometheus`."""
    with Prometheus(prometheus) as prom:
        return scraped_identity.prove(prom, catalog, service, seen, reader)


def refusal(catalog: Catalog, target: Target, seen: Collection[str], say: Callable[[str], None],
            reader: str = "the drill") -> str | None:
    """The line to refuse the run with when an identity seen is not scraped; otherwise None, after saying what the
    check found (each identity scraped; or not measured: a target down, answers without the header)."""
    check = proof(catalog, target, seen, reader)
    if check is None:
        return None
    if check.outcome is FAIL:
        return check.why
    say(f"instruments: {check.why}")
    return None
