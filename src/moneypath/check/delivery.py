"""Where a paging alert's pages go in production: every receiver its route pages (moneypath.generate.routing, as
moneypath.check.drill_files.receivers_for reads it) must declare a delivery (pagerduty, opsgenie, slack, webhook:
moneypath.catalog.receivers). A receiver without one is a webhook to the local `moneypath pager` only, so in
production its pages reach nobody: the alert is not ready, whatever its drills say.
"""

from __future__ import annotations

from pathlib import Path

from moneypath.catalog import Catalog
from moneypath.catalog.receivers import DELIVERY_KINDS
from moneypath.check.drill_files import receivers_for


def undelivered(catalog: Catalog, alert: str, known: dict[str, dict]) -> list[str]:
    """The receivers `alert` pages that declare no production delivery, in route order ([] for an alert the
    generated rules do not know)."""
    if alert not in known:
        return []
    return [r for r in receivers_for(alert, catalog, known)
            if r not in catalog.receivers or not catalog.receivers[r].declared()]


def why_undelivered(catalog: Catalog, alert: str, receivers: list[str]) -> str:
    """One line: which receivers, and how to give each a delivery."""
    where = Path(catalog.path).name if getattr(catalog, "path", None) else "the catalog"
    names = ", ".join(receivers)
    return (f"not ready: its pages reach no delivery: {alert} pages {names}, which "
            f"{'has' if len(receivers) == 1 else 'have'} no {'/'.join(DELIVERY_KINDS)} under receivers.{receivers[0]} "
            f"in {where} (only the local `moneypath pager` gets them); declare one (docs/alerts.md, \"Production "
            "receivers\")")
