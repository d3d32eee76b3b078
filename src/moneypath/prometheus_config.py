"""Catalog + deployment facts → Prometheus server configuration (scrape, rules, alerting)."""

from __future__ import annotations

from moneypath.catalog import Catalog


def prometheus_config(c: Catalog, targets: list[str], rule_files: list[str], alertmanagers: list[str],
                      scrape_interval: str = "15s", evaluation_interval: str = "15s",
                      remote_write: list[dict] | None = None) -> dict:
    config: dict = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval,
                   "external_labels": {"service": c.service}},
        "rule_files": rule_files,
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": alertmanagers}]}]} if alertmanagers else {},
        "scrape_configs": [{
            "job_name": c.service,
            # OpenMetrics first: it is the format that carries exemplars.
            "static_configs": [{"targets": targets}],
        }],
    }
    if not alertmanagers:
        del config["alerting"]
    if remote_write:
        config["remote_write"] = remote_write
    return config
