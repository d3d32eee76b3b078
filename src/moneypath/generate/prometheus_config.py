"""Catalog + deployment facts → Prometheus server configuration (scrape, rules, alerting)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from moneypath.catalog import Catalog, duration_seconds
from moneypath.catalog.conventions import HEARTBEAT_FROM_LABEL, REPLICA_LABEL, WATCHDOG_ALERT

REMOTE_WRITE_EXAMPLES = """
# Scale-out: ship every scraped and recorded series to a horizontally scalable store.
# The same rules run there (Mimir ruler, Thanos Ruler, vmalert) or stay here.
#
# remote_write:
#   - url: http://vminsert.example:8480/insert/0/prometheus/api/v1/write     # VictoriaMetrics cluster (tenant 0)
#   - url: http://victoria-metrics.example:8428/api/v1/write                # VictoriaMetrics single node
#   - url: https://mimir.example/api/v1/push                                 # Grafana Mimir
#     headers: {X-Scope-OrgID: payments}
#   - url: http://thanos-receive.example:19291/api/v1/receive                # Thanos Receive
#     queue_config: {max_samples_per_send: 5000, capacity: 20000}
"""


def retention(c: Catalog) -> str:
    """How long Prometheus must keep data: the longest range the rules read (SLO windows, the
    7-day cost baseline), plus a day. Less and the SLO's own window silently shrinks."""
    longest = max([duration_seconds("7d")] + [duration_seconds(slo.window) for slo in c.slos.values()])
    return f"{math.ceil(longest / 86400) + 1}d"


@dataclass(frozen=True)
class PrometheusIntervals:
    """How often a Prometheus scrapes its targets and evaluates its rules (its config's `global`)."""

    scrape: str = "15s"
    evaluation: str = "15s"


def prometheus_config(c: Catalog, targets: list[str], rule_files: list[str], alertmanagers: list[str],
                      intervals: PrometheusIntervals = PrometheusIntervals(),
                      remote_write: list[dict] | None = None, replica: str | None = None) -> dict:
    """`replica` names this server in a pair running the same rules (HA): its external label, dropped from
    the alerts it sends so the Alertmanagers deduplicate the pair's alerts, but kept on the watchdog (as
    HEARTBEAT_FROM_LABEL) so each replica's heartbeat is seen apart."""
    config: dict = {
        "global": {"scrape_interval": intervals.scrape, "evaluation_interval": intervals.evaluation,
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
    elif replica is not None:
        config["global"]["external_labels"][REPLICA_LABEL] = replica
        config["alerting"]["alert_relabel_configs"] = [
            {"source_labels": ["alertname", REPLICA_LABEL], "regex": f"{c.alert_name(WATCHDOG_ALERT)};(.+)",
             "target_label": HEARTBEAT_FROM_LABEL, "replacement": "$1"},
            {"action": "labeldrop", "regex": REPLICA_LABEL},
        ]
    if remote_write:
        config["remote_write"] = remote_write
    return config
