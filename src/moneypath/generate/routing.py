"""Catalog → Alertmanager configuration: who is paged for what.

The watchdog (always firing) → the dead man's switch receiver only, repeated every
`watchdog.repeat_interval`, never to on-call. page → the on-call receiver; money-loss alerts
(label money_loss="true") → every receiver in routes.money_loss (on-call and compliance);
ticket → the ticket receiver. A page for an SLO inhibits the ticket for the same SLO. Receivers deliver to `moneypath pager`
webhooks (what the local stack and drills use); with `production=True` they deliver where the catalog declares
(PagerDuty, Opsgenie, Slack, webhook: moneypath.generate.receiver_blocks).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import yaml

from moneypath.catalog import Catalog, CatalogError
from moneypath.catalog.conventions import WATCHDOG_ALERT
from moneypath.generate.receiver_blocks import heartbeat_block, receiver_blocks

DEFAULT_PAGER_URL = "http://127.0.0.1:9095"


@dataclass(frozen=True)
class RoutingTimings:
    """Notification pacing. Production defaults; the local stack passes 1 s for drills."""

    group_wait: str = "30s"
    page_group_wait: str = "10s"
    group_interval: str = "5m"
    page_repeat_interval: str = "1h"
    ticket_repeat_interval: str = "12h"
    resolve_timeout: str = "5m"
    # The heartbeat: flushed often so each repeat goes out when it is due (a flush at exactly the repeat
    # interval would skip to the next one); None repeats at the catalog's watchdog.repeat_interval.
    watchdog_group_interval: str = "15s"
    watchdog_repeat_interval: str | None = None


FAST = RoutingTimings(group_wait="1s", page_group_wait="1s", group_interval="2s", page_repeat_interval="1m",
                      ticket_repeat_interval="5m", resolve_timeout="1m", watchdog_group_interval="1s",
                      watchdog_repeat_interval="5s")

# The catalog's own receivers and service name fill in $page, $ticket, $watchdog and $service.
_PRODUCTION_EXAMPLES = string.Template("""
# Production receivers: declare them in the catalog (receivers.<name>.pagerduty, opsgenie, slack or webhook)
# and `moneypath build` writes alertmanager.production.yml; or replace a webhook_configs block above with one of these.
#
#  - name: $watchdog           # Healthchecks.io (or self-hosted): pages when pings stop for period + grace
#    webhook_configs:
#      - url: https://hc-ping.com/REPLACE-WITH-CHECK-UUID
#        send_resolved: false
#  - name: $watchdog           # Dead Man's Snitch, whose PagerDuty integration pages when the snitch goes quiet
#    webhook_configs:
#      - url: https://nosnch.in/REPLACE_ME
#        send_resolved: false
#
#  - name: $page
#    pagerduty_configs:
#      - routing_key_file: /etc/alertmanager/secrets/pagerduty-$service   # Events API v2 key
#        severity: '{{ if eq .CommonLabels.severity "page" }}critical{{ else }}warning{{ end }}'
#        links:
#          - href: '{{ .CommonAnnotations.runbook_url }}'
#            text: runbook
#  - name: $page                # Grafana OnCall: its integration is an Alertmanager webhook
#    webhook_configs:
#      - url: https://oncall.example.com/integrations/v1/alertmanager/REPLACE_ME/
#        send_resolved: true
#  - name: $ticket
#    slack_configs:
#      - api_url_file: /etc/alertmanager/secrets/slack-$service-webhook
#        channel: '#$service-alerts'
#        send_resolved: true
#        title: '{{ .CommonLabels.alertname }}'
#        text: '{{ .CommonAnnotations.summary }} <{{ .CommonAnnotations.runbook_url }}|runbook>'
""")


def alertmanager_config(c: Catalog, pager_url: str = DEFAULT_PAGER_URL, timings: RoutingTimings = RoutingTimings(), *,
                        production: bool = False) -> dict:
    """The routing tree and receivers. `production`: each receiver delivers where the catalog declares
    (CatalogError when it declares nowhere); otherwise every receiver is a webhook to `moneypath pager`."""
    routes = []
    if c.watchdog.enabled:
        wd = c.alert_name(WATCHDOG_ALERT)
        routes.append({"receiver": c.watchdog.receiver, "matchers": [f'alertname="{wd}"'], "group_wait": "0s",
                       "group_interval": timings.watchdog_group_interval,
                       "repeat_interval": timings.watchdog_repeat_interval or c.watchdog.repeat_interval})
    money_loss = list(c.routes.money_loss)
    for i, receiver in enumerate(money_loss):
        routes.append({"receiver": receiver, "matchers": ['money_loss="true"'],
                       "group_wait": timings.page_group_wait, "repeat_interval": timings.page_repeat_interval,
                       "continue": i < len(money_loss) - 1})
    routes.append({"receiver": c.routes.page, "matchers": ['severity="page"'],
                   "group_wait": timings.page_group_wait, "repeat_interval": timings.page_repeat_interval})
    routes.append({"receiver": c.routes.ticket, "matchers": ['severity="ticket"'],
                   "repeat_interval": timings.ticket_repeat_interval})
    return {
        "global": {"resolve_timeout": timings.resolve_timeout},
        "route": {
            "receiver": c.routes.ticket,  # anything unlabelled still reaches a human, next business day
            "group_by": ["alertname", "slo", "provider", "currency", "queue"],
            "group_wait": timings.group_wait,
            "group_interval": timings.group_interval,
            "repeat_interval": timings.ticket_repeat_interval,
            "routes": routes,
        },
        "inhibit_rules": [{"source_matchers": ['severity="page"'], "target_matchers": ['severity="ticket"'],
                           "equal": ["alertname", "slo"]}],
        "receivers": _production_receivers(c) if production else _pager_receivers(c, pager_url),
    }


def _pager_receivers(c: Catalog, pager_url: str) -> list[dict]:
    return [{"name": name, "webhook_configs": [{"url": f"{pager_url}/hooks/{name}", "send_resolved": True}]}
            for name in c.receivers] + ([{"name": c.watchdog.receiver, "webhook_configs": [
                {"url": f"{pager_url}/hooks/{c.watchdog.receiver}", "send_resolved": False}]}]
                if c.watchdog.enabled else [])


def _production_receivers(c: Catalog) -> list[dict]:
    if not c.delivers_in_production:  # the catalog check makes the rest all-or-nothing
        raise CatalogError([f"{c.path}: receivers: no production delivery declared (pagerduty, opsgenie, slack or "
                            "webhook under a receiver)"])
    return [{"name": name, **receiver_blocks(c, receiver)} for name, receiver in c.receivers.items()] + (
        [{"name": c.watchdog.receiver, **heartbeat_block(c.watchdog.webhook)}] if c.watchdog.enabled else [])


def render_alertmanager(c: Catalog, pager_url: str = DEFAULT_PAGER_URL, timings: RoutingTimings = RoutingTimings(), *,
                        production: bool = False) -> str:
    # Wide lines in production: a Go template folded across YAML lines is valid but unreadable.
    body = yaml.safe_dump(alertmanager_config(c, pager_url, timings, production=production), sort_keys=False,
                          width=1000 if production else 120, allow_unicode=True)
    if production:
        return body
    return body + _PRODUCTION_EXAMPLES.substitute(page=c.routes.page, ticket=c.routes.ticket, service=c.service,
                                                  watchdog=c.watchdog.receiver)
