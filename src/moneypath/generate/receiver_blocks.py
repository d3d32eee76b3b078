"""Catalog receivers → Alertmanager receiver blocks for production (PagerDuty Events v2, Opsgenie, Slack,
generic webhook).

Every block carries the alert's runbook and dashboard links (the `runbook_url` and `dashboard_url`
annotations every generated alert has) and references secrets by file only. Deduplication is
Alertmanager's: PagerDuty's `dedup_key` and Opsgenie's `alias` are the SHA-256 of the group key (64 hex
characters, within PagerDuty's 255 and Opsgenie's 512), the same for a group's trigger, repeats and
resolve, and stable while the routes and `group_by` the catalog generates stay the same. Alertmanager
also truncates PagerDuty's summary to 1,024 characters and Opsgenie's message to 130.
"""

from __future__ import annotations

from moneypath.catalog import Catalog
from moneypath.catalog.receivers import Deliveries, Opsgenie, PagerDuty, Slack, Webhook

# Alert severity (page | ticket) → PagerDuty Events v2 payload.severity (critical | error | warning | info)
# and Opsgenie priority (P1 … P5). Anything else (an alert a team routes by hand) is a warning / P3.
PAGERDUTY_SEVERITY = {"page": "critical", "ticket": "warning"}
OPSGENIE_PRIORITY = {"page": "P1", "ticket": "P3"}
_DEFAULT_SEVERITY, _DEFAULT_PRIORITY = "warning", "P3"

RUNBOOK = "{{ .CommonAnnotations.runbook_url }}"
DASHBOARD = "{{ .CommonAnnotations.dashboard_url }}"
# group_by always includes alertname, so it is common to the group; the summary is when all alerts share it.
TITLE = "{{ .CommonLabels.alertname }}{{ with .CommonAnnotations.summary }}: {{ . }}{{ end }}"


def _by_severity(mapping: dict[str, str], default: str) -> str:
    """A Go template choosing a value by the group's common `severity` label (a value equal to the default
    needs no branch of its own)."""
    branches = "".join(f'{"if" if i == 0 else "else if"} eq .CommonLabels.severity "{sev}" }}}}{value}{{{{ '
                       for i, (sev, value) in enumerate((s, v) for s, v in mapping.items() if v != default))
    return f"{{{{ {branches}else }}}}{default}{{{{ end }}}}" if branches else default


def _pagerduty(c: Catalog, d: PagerDuty) -> dict:
    block: dict = {"routing_key_file": d.routing_key_file}
    if d.url:
        block["url"] = d.url
    return {**block, "send_resolved": True,
            "description": TITLE,  # Events v2 payload.summary
            "source": c.service,
            "severity": _by_severity(PAGERDUTY_SEVERITY, _DEFAULT_SEVERITY),
            "class": "{{ .CommonLabels.alertname }}",
            "links": [{"href": RUNBOOK, "text": "runbook"}, {"href": DASHBOARD, "text": "dashboard"}],
            "details": {"runbook_url": RUNBOOK, "dashboard_url": DASHBOARD,
                        "description": "{{ .CommonAnnotations.description }}"}}


def _opsgenie(c: Catalog, d: Opsgenie) -> dict:
    block: dict = {"api_key_file": d.api_key_file}
    if d.api_url:
        block["api_url"] = d.api_url
    return {**block, "send_resolved": True,
            "message": TITLE,
            "description": "{{ .CommonAnnotations.description }}\nRunbook: " + RUNBOOK + "\nDashboard: " + DASHBOARD,
            "source": c.service,
            "priority": _by_severity(OPSGENIE_PRIORITY, _DEFAULT_PRIORITY),
            "tags": f"{c.service},{{{{ .CommonLabels.severity }}}}",
            "details": {"runbook_url": RUNBOOK, "dashboard_url": DASHBOARD}}


def _slack(d: Slack) -> dict:
    block: dict = {"api_url_file": d.api_url_file}
    if d.channel:
        block["channel"] = d.channel
    return {**block, "send_resolved": True,
            "title": "[{{ .Status | toUpper }}] " + TITLE,
            "title_link": RUNBOOK,
            "text": "{{ .CommonAnnotations.description }}\n<" + RUNBOOK + "|runbook> · <" + DASHBOARD + "|dashboard>",
            # Alertmanager's default adds "fallback", which Slack does not format (only pretext, text, fields).
            "mrkdwn_in": ["pretext", "text"]}


def _webhook(d: Webhook, send_resolved: bool) -> dict:
    block: dict = {"url": d.url} if d.url else {"url_file": d.url_file}
    block["send_resolved"] = send_resolved
    if d.credentials_file:
        block["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": d.credentials_file}}
    return block


def receiver_blocks(c: Catalog, deliveries: Deliveries) -> dict[str, list[dict]]:
    """Alertmanager `<kind>_configs` lists for one receiver's declared deliveries (the webhook payload is
    Alertmanager's own, v4: every alert's annotations, with runbook_url and dashboard_url, and the groupKey)."""
    out: dict[str, list[dict]] = {}
    if deliveries.pagerduty:
        out["pagerduty_configs"] = [_pagerduty(c, deliveries.pagerduty)]
    if deliveries.opsgenie:
        out["opsgenie_configs"] = [_opsgenie(c, deliveries.opsgenie)]
    if deliveries.slack:
        out["slack_configs"] = [_slack(deliveries.slack)]
    if deliveries.webhook:
        out["webhook_configs"] = [_webhook(deliveries.webhook, deliveries.webhook.send_resolved)]
    return out


def heartbeat_block(d: Webhook) -> dict[str, list[dict]]:
    """The dead man's switch: pinged on every repeat, never resolved."""
    return {"webhook_configs": [_webhook(d, send_resolved=False)]}
