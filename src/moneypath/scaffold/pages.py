"""Runbook pages, tabletop drills, a locustfile and its scenario file, and the drills' request template
for a team's own catalog.

Everything the catalog knows is filled in (alert, severity, who is paged, roles, the rule's own
query as the first diagnosis step); what only the team can write says TODO. Every page passes
`moneypath lint` as written, so the TODOs are the work list, not lint noise.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import yaml

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import SLO_BUDGET_REMAINING_RECORD, WATCHDOG_SEVERITY, Key, sli_error_record
from moneypath.catalog.currencies import format_money
from moneypath.check.runbooks import RUNBOOK_DIR
from moneypath.check.todos import TODO
from moneypath.formats.drill import DRILL_DIR, ROLES
from moneypath.formats.requests import PLACEHOLDERS
from moneypath.generate.rules import alert_rules


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
    if labels["severity"] == WATCHDOG_SEVERITY:  # the heartbeat: is Prometheus evaluating it?
        return [{"name": "the heartbeat fires at Prometheus",
                 "promql": f'ALERTS{{alertname="{rule["alert"]}", alertstate="firing"}}',
                 "expect": "one series; none means rule evaluation stopped"}]
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
    # the dead man's switch pages on-call from outside when the heartbeat stops
    owner = c.routes.page if page.severity in ("page", WATCHDOG_SEVERITY) else c.routes.ticket
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
            "# load:, fault:, steady_state: and recovery: when your service can take a fault (`moneypath drill check`\n"
            "# names what is still missing; moneypath docs: drills.md, \"Run it\"), and `moneypath drill run` runs it.\n"
            + yaml.safe_dump(doc, sort_keys=False, width=200, allow_unicode=True))


def drill_path(page: AlertPage) -> str:
    return f"{DRILL_DIR}/{PurePosixPath(page.file).stem}.yaml"


NOT_PAYMENT_ROUTES = ("admin", "internal", "debug")  # a path segment that says the route is not the payment API


def _routes(c: Catalog) -> tuple[str, str | None]:
    """Guesses from the catalog's routes: the authorization's path (the first plain route) and the read of one
    payment (a route with one placeholder, best the authorization's path plus its id: /charges/{charge_id}), never
    a route under admin/, internal/ or debug/ (GET /admin/providers/{id} reads no payment)."""
    routes = [r for r in c.signals[Key.HTTP_REQUESTS_TOTAL].labels.get("route", [])
              if r != "/healthz" and not set(r.lower().strip("/").split("/")) & set(NOT_PAYMENT_ROUTES)]
    plain = [r for r in routes if "{" not in r]
    path = plain[0] if plain else "/payments"
    one = [r for r in routes if len(re.findall(r"\{[^}]*\}", r)) == 1]

    def fit(route: str) -> tuple[bool, bool]:  # under the authorization's path; the id its last segment
        return route.startswith(path.rstrip("/") + "/"), route.rstrip("/").endswith("}")

    return path, max(one, key=fit, default=None)  # max keeps the first of equals


def _methods(c: Catalog) -> list[str]:
    """The catalog's authorization `method` values: those `moneypath loadtest` checks a scenario file against
    (the authorization latency SLO's histogram), else the authorization counter's; `card` when neither has any."""
    latency = [s.sli.latency.signal for s in c.slos.values() if s.sli.latency is not None]
    signal = Key.AUTHORIZATION_DURATION_SECONDS if Key.AUTHORIZATION_DURATION_SECONDS in latency else (
        latency[0] if len(latency) == 1 else None)
    for key in (signal, Key.AUTHORIZATIONS_TOTAL):
        if key is not None and key in c.signals:
            methods = [m for m in c.signals[key].labels.get("method", []) if m != "other"]
            if methods:
                return methods
    return ["card"]


def _weights(keys: list[str]) -> dict[str, int]:
    """Equal integer weights summing to 100 (the first ones take the remainder)."""
    share, extra = divmod(100, len(keys))
    return {k: share + (1 if i < extra else 0) for i, k in enumerate(keys)}


def _median_minor(c: Catalog) -> int:
    """A typical checkout in minor units that reads sensibly in every currency's own exponent: 25 major units
    (2,500 in a zero-decimal currency such as JPY), the geometric mean across currencies, two significant digits."""
    per = [2500 if c.exponent(cur) == 0 else 25 * 10 ** c.exponent(cur) for cur in c.currencies]
    mean = math.prod(per) ** (1 / len(per))
    digits = max(0, len(str(round(mean))) - 2)
    return max(1, int(round(mean, -digits)))


def locustfile(c: Catalog) -> str:
    """A locustfile for the team's API: a PaymentUser that declares the authorization, TODO where the team adapts it."""
    path, _ = _routes(c)
    return f'''"""Load for {c.service}, written by `moneypath init`: a subclass of moneypath's PaymentUser that
declares your API's authorization. Request names ("authorize [<provider>]", the names the gates read),
headers (correlation id, idempotency key, bearer token), pacing, the scenario's shape and faults,
retries and the exporter come from the base class; providers, currencies, methods and amounts from
the scenario file beside this one (scenarios.yaml).

    moneypath loadtest checkout --locustfile loadtests/locustfile.py --host http://127.0.0.1:8000 [--no-auth]

--no-auth when your API takes no token (else $MONEYPATH_TOKEN is sent as "authorization: Bearer ...").
Does your API capture or refund separately, or pay out? Define capture(self, payment), refund(self,
payment, amount_minor) or payout(self, order) too (`python -m pydoc moneypath.loadtest.in_locust.user`) and give
them weight in scenarios.yaml's mix.

Is a payment several calls (a checkout whose steps pass an id along, a GraphQL API that answers failures
with HTTP 200)? Instead of authorize, name the drills' request template, whose flow of steps the user runs:
    template = "../runbooks/drills/requests/{c.service}.yaml"
"""

from moneypath.loadtest.in_locust.user import PaymentUser


class Payer(PaymentUser):
    """POST {path}: a new payment of the order's provider, currency, method and amount in minor units."""

    def authorize(self, order):
        # TODO: your API's path and request body (order: provider, currency, method, amount_minor, reference).
        # TODO: id_from: where the payment id is in the answer (a dotted path, e.g. data.charge.id).
        return self.post("authorize", order, {json.dumps(path)}, id_from="id", json={{
            "provider": order.provider, "currency": order.currency, "method": order.method,
            "amount_minor": order.amount_minor, "reference": order.reference}})
'''


def scenarios_file(c: Catalog) -> str:
    """The scenario file `moneypath loadtest` reads beside the locustfile: this catalog's providers, currencies
    and methods, a mix of authorizations only (what the locustfile declares), and a checkout scenario."""
    median = _median_minor(c)
    amounts = {"median": median, "sigma": 1.0, "min": max(1, median // 25), "max": median * 100}
    reads = ", ".join(format_money(median, cur, c.exponent(cur)) for cur in c.currencies)
    flow = partial(yaml.safe_dump, default_flow_style=True, sort_keys=False, width=1000)
    first = next(iter(c.providers))
    return f"""# Load-test scenarios for {c.service}, written by `moneypath init`, read by `moneypath loadtest`
# (--scenario-file; by default this file, beside loadtests/locustfile.py). Providers, currencies and
# methods must exist in the catalog (moneypath.yaml); the gates' thresholds come from its SLOs.
# Rates are HTTP requests per second.

baseline:
  rate: 10          # requests per second at 1x (--rate)
  users: 10         # concurrent users at 1x (--users)
  duration_s: 60    # when a scenario does not say otherwise

# One request per step, chosen by weight. The locustfile declares authorize only; give capture,
# refund or payout weight once it defines them.
mix: {flow({"authorize": 100}).strip()}

# Lognormal amounts in each currency's own minor units, clamped: the median reads {reads}.
amount_minor: {flow(amounts).strip()}
currencies: {flow(_weights(list(c.currencies))).strip()}
providers: {flow(_weights(list(c.providers))).strip()}
methods: {flow(_weights(_methods(c))).strip()}

scenarios:
  checkout:
    description: Checkouts at the baseline rate.
  # TODO: your own scenarios, e.g. a provider answering late through the fault proxy
  # (`moneypath faultproxy` between your service and its providers; `moneypath loadtest --faultproxy URL`):
  # {first}_slow:
  #   description: {first} answers 600 ms late; every payment through it is slow.
  #   faults:
  #     - {{at: faultproxy, name: latency, params: {{provider: {first}, extra_ms: 600}}}}
"""


def requests_file(c: Catalog) -> str:
    """How the drills' load calls the team's API (`load.requests: requests/<service>.yaml` in a drill), with a read
    of one payment when the catalog has a route for it (its first templated route, its id as {payment_id})."""
    path, one = _routes(c)
    read_path = re.sub(r"\{[^}]*\}", "{payment_id}", one) if one else f"{path.rstrip('/')}/{{payment_id}}"
    read = "" if one is None else f"""# the "writes lost" check without --db-url: TODO: your API's read of one payment
read:
  method: GET
  path: {json.dumps(read_path)}
  outcome: status       # TODO: where its state is
"""
    return f"""# How a drill's load calls the {c.service} API, written by `moneypath init`: point a drill at it with
# `load.requests: requests/{c.service}.yaml` (moneypath docs: drills.md, "Drilling your own service"). {{placeholders}} are
# filled per payment: {", ".join("{" + p + "}" for p in PLACEHOLDERS[:5])},
# {", ".join("{" + p + "}" for p in PLACEHOLDERS[5:])}; ${{NAME}} is read from the environment.
auth: none              # TODO: none | bearer (token from the variable in token_env) | minted (MONEYPATH_TOKEN_SECRET)
authorize:
  method: POST
  path: {json.dumps(path).ljust(15)} # TODO: your API's path
  headers: {{Idempotency-Key: "{{idempotency_key}}"}}
  # TODO: your API's request body
  json: {{provider: "{{provider}}", currency: "{{currency}}", method: "{{method}}", amount_minor: "{{amount_minor}}",
         reference: "{{reference}}"}}
  id: id                # TODO: where the payment id is in a 2xx answer (dotted: data.charge.id)
  outcome: status       # TODO: where its state is
approved: [approved]    # TODO: states after which the drill may capture
concurrency: 16         # TODO: the most payments in flight your service (and its database) should bear
# Is a payment several calls (a checkout: create, pay, complete)? Replace authorize: with a flow (moneypath docs:
# reference/drill-files.md, "Request templates"), each step capturing what the next needs, e.g.
# name: checkout
# flow:
#   - {{name: create, path: /checkouts, json: {{currency: "{{currency}}"}}, capture: {{checkout_id: data.id}}}}
#   - {{name: pay, path: "/checkouts/{{checkout_id}}/pay", authorizes: true, id: data.payment.id,
#      outcome: data.payment.status, must_be_empty: [errors]}}
# TODO if your API captures separately (and set load.capture > 0 in the drill; captured: below with read:):
# capture: {{method: POST, path: "{read_path}/capture", headers: {{Idempotency-Key: "{{idempotency_key}}"}}}}
# captured: [captured]
{read}"""
