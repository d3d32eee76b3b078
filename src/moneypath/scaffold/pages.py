"""Runbook pages, tabletop drills and a locustfile for a team's own catalog.

Everything the catalog knows is filled in (alert, severity, who is paged, roles, the rule's own
query as the first diagnosis step); what only the team can write says TODO. Every page passes
`moneypath lint` as written, so the TODOs are the work list, not lint noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import yaml

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import SLO_BUDGET_REMAINING_RECORD, Key, sli_error_record
from moneypath.check.drill_files import DRILL_DIR, ROLES
from moneypath.check.runbooks import RUNBOOK_DIR
from moneypath.generate.rules import alert_rules

TODO = "TODO"


@dataclass
class AlertPage:
    """One runbook page: an alert and the rules that link to it."""

    alert: str
    file: str  # runbooks/<name>.md
    severity: str  # the worst of its rules
    money_loss: bool
    summary: str
    description: str
    steps: list[dict]  # diagnosis steps: name, promql, expect


def alert_pages(c: Catalog) -> list[AlertPage]:
    pages: dict[str, AlertPage] = {}
    for group in alert_rules(c)["groups"]:
        for rule in group["rules"]:
            name = PurePosixPath(urlsplit(rule["annotations"]["runbook_url"]).path).name
            labels = rule["labels"]
            page = pages.get(name)
            if page is None:
                page = pages[name] = AlertPage(rule["alert"], f"{RUNBOOK_DIR}/{name}", labels["severity"],
                                               False, rule["annotations"]["summary"],
                                               rule["annotations"]["description"], _steps(c, rule))
            elif "slo" not in labels:  # another shape of one business alert: its query is evidence too
                page.steps += [s for s in _steps(c, rule) if s["promql"] not in {t["promql"] for t in page.steps}]
            if labels["severity"] == "page":
                page.severity = "page"
            page.money_loss = page.money_loss or labels.get("money_loss") == "true"
    return list(pages.values())


def _steps(c: Catalog, rule: dict) -> list[dict]:
    labels = rule["labels"]
    if "slo" in labels:  # an SLO's burn-rate alert: its error ratio and what is left of its budget
        slo = labels["slo"]
        return [{"name": "error ratio over 5 minutes", "promql": f'{sli_error_record("5m")}{{slo="{slo}"}}',
                 "expect": f"above the budget ({c.slos[slo].error_budget:g}) while burning"},
                {"name": "error budget remaining", "promql": f'{SLO_BUDGET_REMAINING_RECORD}{{slo="{slo}"}}',
                 "expect": "falling; below 0 means the objective is missed for the window"}]
    reason = "".join(f" ({k}={v})" for k, v in labels.items() if k not in ("severity", "money_loss"))
    return [{"name": f"the alert's own condition{reason}", "promql": " ".join(rule["expr"].split()),
             "expect": "a series per offender while the alert fires"}]


def _role(c: Catalog, *preferred: str) -> str:
    return next((r for r in preferred if r in c.roles), next(iter(c.roles), "incident_commander"))


def runbook_page(c: Catalog, page: AlertPage) -> str:
    owner = c.routes.page if page.severity == "page" else c.routes.ticket
    leads = _role(c, "incident_commander", "engineering")
    customers = _role(c, "communications", "customer_support")
    regulatory = _role(c, "compliance")
    front = {
        "alert": page.alert,
        "severity": page.severity,
        "owner": owner,
        "roles": {role: f"{TODO}: {c.roles[role].duty} What is done by when (T+15m, T+60m)?" for role in c.roles},
        "diagnosis": page.steps,
        "mitigation": [f"{TODO}: the first safe action (switch provider, pause a job, roll back)."],
    }
    paged = ", ".join(c.routes.money_loss) if page.money_loss else owner
    queries = "\n".join(s["promql"] for s in page.steps)
    return f"""---
{yaml.safe_dump(front, sort_keys=False, width=200, allow_unicode=True)}---
# {page.alert}

## Meaning
{_meaning(page)}

## Impact
{TODO}: the money at risk while this fires (failed payments per minute x average amount, money charged
twice, unreconciled amounts) and who notices first.

## First hour
- Paged: {paged} ({page.severity} route{", money loss" if page.money_loss else ""}).
- Leads: {leads.replace('_', ' ')} ({c.roles[leads].receiver if leads in c.roles else owner}).
- Customers: {customers.replace('_', ' ')} posts the status page and briefs support ({TODO}: when).
- Regulatory: {regulatory.replace('_', ' ')} decides within 1 h of the page whether a notification is due
  ({TODO}: which regimes apply to you: DORA, PSD2, GDPR, PCI DSS).

## Diagnosis
```promql
{queries}
```

## Mitigation
1. {TODO}: the first safe action, and how to tell it worked.

## Escalation
{TODO}: who to call when the first hour has not contained it.

## Afterwards
{TODO}: reconcile the window, list affected payments, write the incident review.
"""


def _meaning(page: AlertPage) -> str:
    described = _readable(page.description)
    return page.summary if described.strip() == page.summary.strip() else f"{page.summary}\n\n{described}"


def _readable(template: str) -> str:
    """An alert description without Go templating: {{ $labels.provider }} → <provider>, {{ $value … }} → N."""
    text = re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", r"<\1>", template)
    return re.sub(r"\{\{[^}]*\$value[^}]*\}\}", "N", text)


def drill_file(c: Catalog, page: AlertPage) -> str:
    """A tabletop drill for a paging alert: the cards and the evidence, until a fault can be wired."""
    key = page.alert.removeprefix(c.alert_prefix)
    doc = {
        "title": f"{page.alert} on the tabletop",
        "runbook": key,
        "alerts": {"expected": [{"alert": key, "page_within": "1m"}]},
        "diagnosis": {"within": "2m", "steps": [{"step": page.steps[0]["name"], "expect": {"nonempty": True}}]},
        "tabletop": {
            "narrative": f"{TODO}: a realistic moment this pages ({page.summary})",
            "roles": {role: {"checkpoint": f"{TODO}: what {role.replace('_', ' ')} has decided or done by then",
                             "due": due}
                      for role, due in zip(ROLES, ("10m", "20m", "60m", "30m"))},
        },
    }
    return (f"# Tabletop drill for {page.alert}, written by `moneypath init`. Rehearse it with the cards; give it\n"
            "# load: and fault: when your service can take a fault, and `moneypath drill run` will run it.\n"
            + yaml.safe_dump(doc, sort_keys=False, width=200, allow_unicode=True))


def drill_path(page: AlertPage) -> str:
    return f"{DRILL_DIR}/{PurePosixPath(page.file).stem}.yaml"


def locustfile(c: Catalog) -> str:
    """A Locust file for the team's API: authorizations per provider, named as the gates read them."""
    providers = list(c.providers)
    currencies = list(c.currencies)
    routes = [r for r in c.signals[Key.HTTP_REQUESTS_TOTAL].labels.get("route", []) if "{" not in r and r != "/healthz"]
    path = routes[0] if routes else "/payments"
    return f'''"""Load for {c.service}, written by `moneypath init`: edit the request to match your API.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 --headless -u 20 -r 5 -t 2m

Requests are named "authorize [<provider>]", the names `moneypath loadtest` gates read.
"""

import random
import uuid

from locust import FastHttpUser, constant_throughput, task

PROVIDERS = {providers!r}
CURRENCIES = {currencies!r}


class Payer(FastHttpUser):
    wait_time = constant_throughput(1)

    @task
    def authorize(self):
        provider = random.choice(PROVIDERS)
        body = {{  # TODO: your API's request body
            "provider": provider,
            "currency": random.choice(CURRENCIES),
            "amount_minor": random.randint(100, 20000),
        }}
        self.client.post({path!r}, json=body, name=f"authorize [{{provider}}]",
                         headers={{"Idempotency-Key": str(uuid.uuid4())}})
'''
