"""The PromQL of the committed dashboards (dashboards/*.json), as Prometheus gets it from Grafana: read by
the lint (labels and values against the catalog) and the live lint (against a running Prometheus)."""

from __future__ import annotations

import json
import re
from pathlib import Path

# Grafana's interval variables become a duration PromQL accepts; any other variable matches anything.
_INTERVAL_VARS = re.compile(r"\$\{?__(?:rate_interval|interval|range)(?:_ms|_s)?\}?")
_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}?")


def dashboard_queries(root: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(where, expr) of every panel query under `root`/dashboards (where: 'dashboards/x.json: panel "Title"'),
    and one problem line per file that cannot be read."""
    found, problems = [], []
    for path in sorted((root / "dashboards").glob("*.json")):
        rel = path.relative_to(root).as_posix()
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{rel}: (file): cannot be read as JSON: {' '.join(str(exc).split())}")
            continue
        if not isinstance(doc, dict):
            problems.append(f"{rel}: (file): not a dashboard (a JSON object with panels)")
            continue
        found += panel_queries(rel, doc)
    return found, problems


def panel_queries(rel: str, doc: dict) -> list[tuple[str, str]]:
    """(where, expr) of every panel query of one dashboard document."""
    return [(f'{rel}: panel "{panel.get("title", "")}"', grafana_free(str(target["expr"])))
            for panel in _panels(doc.get("panels", []))
            for target in panel.get("targets", []) or [] if isinstance(target, dict) and target.get("expr")]


def _panels(panels: list) -> list[dict]:
    out = []
    for panel in panels if isinstance(panels, list) else ():
        if isinstance(panel, dict):
            out.append(panel)
            out += _panels(panel.get("panels", []) or [])
    return out


def grafana_free(expr: str) -> str:
    """A dashboard query as Prometheus would get it: $__rate_interval → 5m, any other $variable → .*"""
    return _VARIABLE.sub(".*", _INTERVAL_VARS.sub("5m", expr))
