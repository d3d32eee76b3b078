"""What every generated alerting rule writes the same way: a threshold as PromQL and people read it, and the
annotations linking the alert to its runbook and dashboard."""

from __future__ import annotations

from moneypath.catalog import Catalog


def num(x: float) -> str:
    """A threshold as PromQL and people read it: no exponent, no lost digits."""
    return format(x, ".15g") if abs(x) >= 1e-4 or x == 0 else repr(x)


def annotations(c: Catalog, key: str, summary: str, description: str) -> dict[str, str]:
    return {
        "summary": summary,
        "description": description,
        "runbook_url": c.runbook_url(key),
        "dashboard_url": f"{c.links.dashboard_base_url}{c.links.overview_dashboard}",
    }
