"""The commented catalog `moneypath init` writes for a team's own service.

Only the core signals and those of the features the team has; label values the team knows
(providers, currencies, payment methods, route templates) come from init's options, the rest
are sensible defaults with a comment saying what to change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from moneypath.catalog.conventions import DETECTOR_LABEL, ERROR_REASON_LABEL, ERROR_REASONS, GRAPHQL_OUTCOMES, Key, camel
from moneypath.catalog.detectors import BUILTIN_DETECTORS
from moneypath.catalog.features import FEATURES
from moneypath.scaffold.map_section import money_path_yaml

LATENCY_BUCKETS = "[0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5]"


@dataclass
class ScaffoldOptions:
    service: str
    providers: list[str]
    currencies: list[str]
    features: dict[str, bool]  # every feature of moneypath.catalog.features
    methods: list[str] = field(default_factory=lambda: ["card"])
    routes: list[str] = field(default_factory=lambda: ["/healthz"])
    oncall: str = ""
    operations: list[str] = field(default_factory=list)  # GraphQL operation names (feature graphql)

    @property
    def namespace(self) -> str:
        return re.sub(r"[^a-z0-9_]", "_", self.service.lower()).strip("_") or "service"

    @property
    def prefix(self) -> str:
        return camel(self.namespace) or "Service"

    @property
    def pager(self) -> str:
        return self.oncall or f"{self.service}-oncall"

    def on(self, feature: str) -> bool:
        return self.features.get(feature, True)


def _flow(values: list[str]) -> str:
    return "[" + ", ".join(_scalar(v) for v in values) + "]"


def _scalar(value: str) -> str:
    """Every value a person gave, double-quoted (JSON's escaping is YAML's): `yes`, `null`, `on`, `1e3`, `#x`
    or `a: b` load as the string that was given, never as a bool, a null, a number, a comment or a mapping."""
    return json.dumps(str(value))


def _heartbeat(o: ScaffoldOptions) -> str:
    """The detectors' heartbeat (moneypath.catalog.detectors): one value per detector of the features that are on."""
    names = [name for name, d in BUILTIN_DETECTORS.items() if d.feature is None or o.on(d.feature)]
    return f"""
  # Detectors: jobs whose healthy output is 0 (your duplicate scan, ...). Call `mp.record_detector_run("duplicates")` after
  # each run: a 0 from a detector whose heartbeat did not advance in a check's window is not measured.
  {Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS}:
    type: gauge
    unit: seconds
    help: Unix time a detector (a job whose healthy output is 0) last completed a run, by detector.
    labels: {{{DETECTOR_LABEL}: {_flow(names)}}}
    multiprocess_mode: max
"""


def _signals(o: ScaffoldOptions) -> str:
    operations = ["authorize", "capture", "refund"] + (["payout"] if o.on("payouts") else [])
    outcomes = _flow(["success", "error", "timeout"] + (["circuit_open"] if o.on("breaker") else []))
    methods = _flow(o.methods)
    out = [f"""  # Authorizations: the heart of the money path (latency and availability SLOs below).
  {Key.AUTHORIZATION_DURATION_SECONDS}:
    type: histogram
    unit: seconds
    help: Time to authorize a payment with a provider, end to end.
    labels: &authorization_labels
      {{provider: ["@providers"], method: {methods}, outcome: [approved, declined, error, timeout]}}
    buckets: {LATENCY_BUCKETS}
    exemplars: true
  {Key.AUTHORIZATIONS_TOTAL}:
    type: counter
    help: Authorizations attempted, by provider, method and outcome.
    labels: *authorization_labels

  # Charged twice: money taken twice for one idempotency key or order.
  {Key.DUPLICATE_CHARGES_TOTAL}:
    type: counter
    help: Payments charged more than once for one idempotency key or order.
    labels: {{provider: ["@providers"]}}
  {Key.DUPLICATE_CHARGED_MINOR_TOTAL}:
    type: counter
    unit: minor
    help: Money charged twice, in minor units of the currency.
    labels: {{currency: ["@currencies"]}}

  # Calls to your payment providers (one attempt each) and retries.
  {Key.PROVIDER_REQUESTS_TOTAL}:
    type: counter
    help: Calls to a payment provider, by operation and outcome.
    labels:
      provider: ["@providers"]
      operation: &operations {_flow(operations)}
      outcome: {outcomes}
  {Key.PROVIDER_REQUEST_DURATION_SECONDS}:
    type: histogram
    unit: seconds
    help: Latency of one call to a payment provider (one attempt).
    labels: {{provider: ["@providers"], operation: *operations}}
    buckets: {LATENCY_BUCKETS}
    exemplars: true
  {Key.PROVIDER_RETRIES_TOTAL}:
    type: counter
    help: Retries of provider calls after an error or timeout.
    labels: {{provider: ["@providers"], operation: *operations}}
"""]
    out.append(_heartbeat(o))
    if o.on("ledger"):
        out.append(f"""  # The ledger (feature): every movement of money as one balanced transaction.
  {Key.LEDGER_WRITES_TOTAL}:
    type: counter
    help: Ledger write transactions, by outcome.
    labels: {{outcome: [committed, failed, conflict]}}
  {Key.LEDGER_WRITE_DURATION_SECONDS}:
    type: histogram
    unit: seconds
    help: Time to commit one balanced ledger transaction.
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
    exemplars: true
  {Key.LEDGER_IMBALANCE_MINOR}:
    type: gauge
    unit: minor
    help: Sum of all ledger postings per currency in minor units; double entry requires 0.
    labels: {{currency: ["@currencies"]}}
""")
    if o.on("breaker"):
        out.append(f"""  # Circuit breaker (feature): state per provider; ProviderPartialOutage pages while one is open.
  {Key.PROVIDER_CIRCUIT_STATE}:
    type: gauge
    help: Circuit breaker state per provider (0 closed, 1 half-open, 2 open).
    labels: {{provider: ["@providers"]}}
    enum: {{closed: 0, half_open: 1, open: 2}}
    multiprocess_mode: max
""")
    if o.on("reconciliation"):
        out.append(f"""
  # Reconciliation (feature): the ledger matched to provider settlements.
  {Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS}:
    type: gauge
    unit: seconds
    help: Age of the oldest ledger entry not yet matched to a provider settlement.
    labels: {{provider: ["@providers"]}}
  {Key.RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS}:
    type: gauge
    unit: seconds
    help: Unix time of the last successful reconciliation run.
    labels: {{provider: ["@providers"]}}
  {Key.RECONCILIATION_MISMATCHES_TOTAL}:
    type: counter
    help: Reconciliation mismatches found, by kind.
    labels: {{provider: ["@providers"], mismatch_kind: [missing_in_ledger, missing_at_provider, amount_differs, duplicate]}}
""")
    if o.on("queues"):
        out.append(f"""
  # Queues (feature): name your outbox queues here.
  {Key.QUEUE_DEPTH}:
    type: gauge
    help: Messages waiting in an outbox queue.
    labels: &queue_labels {{queue: [outbox]}}
  {Key.DEAD_LETTERS_TOTAL}:
    type: counter
    help: Messages moved to the dead-letter table after exhausting retries.
    labels: *queue_labels
""")
    if o.on("idempotency"):
        out.append(f"""
  # Idempotency (feature): requests answered from a stored response.
  {Key.IDEMPOTENT_REPLAYS_TOTAL}:
    type: counter
    help: Requests answered from a stored idempotent response instead of being executed again.
    labels: {{operation: *operations}}
""")
    if o.on("webhooks"):
        out.append(f"""
  # Webhooks (feature): provider callbacks, by signature verification outcome.
  {Key.WEBHOOKS_TOTAL}:
    type: counter
    help: Provider webhooks received, by verification outcome.
    labels: {{provider: ["@providers"],
             outcome: [accepted, duplicate, invalid_signature, stale, replayed, unknown_provider]}}
""")
    if o.on("fraud"):
        out.append(f"""
  # Fraud screening (feature).
  {Key.FRAUD_DECISIONS_TOTAL}:
    type: counter
    help: Fraud screening decisions.
    labels: {{decision: [approve, review, decline]}}
  {Key.FRAUD_SCORE_RATIO}:
    type: histogram
    unit: ratio
    help: Fraud scores returned by risk screening (0 safe, 1 certain fraud).
    buckets: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
  {Key.FRAUD_CHECK_TIMEOUTS_TOTAL}:
    type: counter
    help: Fraud checks that timed out, by the fallback the policy applied.
    labels: {{fallback: [hold, allow]}}
""")
    if o.on("cost"):
        components = ["infrastructure", "provider_fee"] + (["fraud_screening"] if o.on("fraud") else [])
        out.append(f"""
  # Cost (feature): divide its rate by the authorization rate for cost per transaction.
  {Key.COST_USD_TOTAL}:
    type: counter
    unit: usd
    help: Money spent running the money path, by component.
    labels: {{component: {_flow(components)}, provider: ["@providers", none]}}
""")
    if o.on("audit"):
        out.append(f"""
  # Audit trail (feature): set by the check that walks the hash chain of your audit events
  # (`moneypath audit verify --db URL` walks the same chain from the command line).
  {Key.AUDIT_CHAIN_BROKEN}:
    type: gauge
    help: 1 while the audit trail's hash chain does not verify (an event was edited or deleted), else 0.
    labels: {{}}
    multiprocess_mode: max
  # If your service signs checkpoints of its chain (docs: reference-service.md, "Audit checkpoints"),
  # also declare the gauges
  # {Key.AUDIT_CHECKPOINT_SEQ} and {Key.AUDIT_HEAD_SEQ} (labels {{}}; mp.set_audit_checkpoint after each
  # checkpoint, mp.set_audit_head after each intact check) and the AuditCheckpointStale alert (a ticket
  # when new events stay unsigned; threshold = seconds they may wait, e.g. 900).
""")
    if o.on("admission"):
        out.append(f"""
  # Admission control (feature): count each request your service refuses at once past its capacity
  # (503 + Retry-After), by priority: mp.count_shed("critical" | "normal").
  {Key.REQUESTS_SHED_TOTAL}:
    type: counter
    help: Requests refused at once because the service was past its capacity, by priority.
    labels: {{priority: [critical, normal]}}
""")
    if o.on("graphql"):
        out.append(f"""
  # GraphQL (feature): each operation by its name (operationName), as moneypath.instrument.graphql records it;
  # an unnamed or undeclared operation is "other". rejected: the payload's user-errors list was not empty.
  {Key.GRAPHQL_OPERATIONS_TOTAL}:
    type: counter
    help: GraphQL operations executed, by operation name and outcome.
    labels:
      operation: &graphql_operations {_flow(o.operations)}
      outcome: {_flow(list(GRAPHQL_OUTCOMES))}
  {Key.GRAPHQL_OPERATION_DURATION_SECONDS}:
    type: histogram
    unit: seconds
    help: GraphQL operation latency by operation name.
    labels: {{operation: *graphql_operations}}
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
""")
    out.append(f"""
  # HTTP: route TEMPLATES (never raw paths: ids would make unbounded series).
  {Key.HTTP_REQUESTS_TOTAL}:
    type: counter
    help: HTTP requests served, by route template, method and status class.
    labels:
      route: &routes {_flow(o.routes)}
      method: &http_methods [GET, POST, PUT, DELETE]
      status_class: [2xx, 3xx, 4xx, 5xx]
  {Key.HTTP_REQUEST_DURATION_SECONDS}:
    type: histogram
    unit: seconds
    help: HTTP request latency by route template and method.
    labels: {{route: *routes, method: *http_methods}}
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

  # Card numbers found in input (never the number): count what your service refuses or redacts.
  {Key.CARD_NUMBERS_TOTAL}:
    type: counter
    help: Card numbers found in input, by where they came from and what was done with them.
    labels: {{source: [api, webhook], action: [refused, redacted]}}

  {Key.INSTRUMENTATION_ERRORS_TOTAL}:
    type: counter
    help: Failures inside the instrumentation itself, counted and swallowed.
    labels: {{{ERROR_REASON_LABEL}: [{", ".join(ERROR_REASONS)}]}}
""")
    return "".join(out)


def _alerts(o: ScaffoldOptions) -> str:
    lines = [
        "  DuplicateChargeDetected: {severity: page, money_loss: true, threshold: 0,",
        "    summary: A customer was charged more than once.}",
        "  ProviderPartialOutage: {severity: page, threshold: 0.05, for: 2m,",
        "    summary: A provider is failing more than 5% of calls"
        + (" or its circuit is open.}" if o.on("breaker") else ".}"),
        "  # approved / (approved + declined) per provider and method over 30m, against its own last day",
        "  ApprovalRateDrop: {severity: page, threshold: 0.2, min_events: 50, for: 5m,",
        "    summary: A provider is approving far fewer payments than it did over the last day.}",
        "  AuthorizationsSilent: {severity: page, threshold: 0, for: 2m,",
        "    summary: \"No authorizations recorded, or the money path's metrics are absent.\"}",
    ]
    if o.on("ledger"):
        lines += ["  LedgerImbalance: {severity: page, money_loss: true, threshold: 0,",
                  "    summary: Ledger postings do not sum to zero in a currency.}",
                  "  LedgerWriteFailures: {severity: page, threshold: 0.01, for: 2m,",
                  "    summary: More than 1% of ledger writes are failing.}"]
    if o.on("reconciliation"):
        lines += ["  ReconciliationLagHigh: {severity: ticket, threshold: 900, for: 5m,",
                  "    summary: Ledger entries have waited more than 15 minutes for a settlement match.}",
                  "  SettlementMismatch: {severity: page, money_loss: true, threshold: 0,",
                  "    summary: Provider settlements disagree with the ledger.}"]
    if o.on("queues"):
        lines += ["  DeadLettersGrowing: {severity: ticket, threshold: 0, for: 5m,",
                  "    summary: Messages are being dead-lettered.}"]
    if o.on("fraud"):
        lines += ["  FraudSpike: {severity: page, threshold: 3, for: 5m,",
                  "    summary: Fraud declines are running at more than 3x their usual rate.}"]
    if o.on("cost"):
        lines += ["  CostPerTransactionRegression: {severity: ticket, threshold: 1.5, for: 15m,",
                  "    summary: Cost per transaction is more than 1.5x its 7-day average.}"]
    if o.on("audit"):
        lines += ["  AuditChainBroken: {severity: page, money_loss: true, threshold: 0,",
                  "    summary: The audit trail of changes to payments was edited or deleted.}"]
    if o.on("admission"):
        lines += ["  LoadShedding: {severity: page, threshold: 0.05, for: 1m,",
                  "    summary: The service is refusing more than 5% of requests because it is past its capacity.}"]
    return "\n".join(lines) + "\n"


def _balance_hint(o: ScaffoldOptions) -> str:
    return ("#   balance: SELECT currency, SUM(amount_minor) AS total FROM postings GROUP BY currency  # every total 0\n"
            if o.on("ledger") else "")


def _ledger_slo(o: ScaffoldOptions) -> str:
    if not o.on("ledger"):
        return ""
    return f"""  ledger-durability:
    description: Ledger writes that committed.
    objective: 99.99
    window: 30d
    sli:
      good: '{Key.LEDGER_WRITES_TOTAL}{{outcome="committed"}}'
      total: {Key.LEDGER_WRITES_TOTAL}
"""


def _cost(o: ScaffoldOptions) -> str:
    if not o.on("cost"):
        return ""
    fees = "\n".join(f"    {_scalar(p)}: {{fixed_usd: 0.0, bps: 0}}  # TODO: your contract with {p}" for p in o.providers)
    fraud = "  fraud_screening_usd_per_check: 0.0  # TODO\n" if o.on("fraud") else ""
    return f"""
# The cost model (USD): infrastructure per instance-hour, provider fees per capture.
cost:
  infrastructure_usd_per_hour: 0.0  # TODO: what one instance of {o.service} costs
{fraud}  provider_fees:
{fees}
"""


def catalog_yaml(o: ScaffoldOptions) -> str:
    """The whole catalog text, commented; `moneypath catalog check` passes on it."""
    features = ", ".join(f"{name}: {'true' if o.on(name) else 'false'}" for name in FEATURES)
    auth = f"{o.namespace}_{Key.AUTHORIZATIONS_TOTAL}"
    providers = "\n".join(f"  {_scalar(p)}: {{display_name: {_scalar(p.replace('_', ' ').title())}}}"
                          for p in o.providers)
    service, namespace, pager, tickets = (_scalar(v) for v in (o.service, o.namespace, o.pager, f"{o.service}-tickets"))
    return f"""# moneypath catalog for {o.service}: the single source of truth for its signals, SLOs, alerts,
# routes and roles. Written by `moneypath init`; yours to edit. After a change, from this directory:
#   moneypath catalog check   # every check build and lint run on the rules
#   moneypath init .          # runbook pages and drills for new alerts (edited files are kept)
#   moneypath build           # rules, routing, dashboards
#   moneypath lint            # rules, runbook pages, drill files (--db-url to check their SQL)
# Reference: https://github.com/moneypath/moneypath/blob/main/moneypath.yaml (every field documented).
version: 1
service: {service}
namespace: {namespace}          # metric name prefix: {o.namespace}_authorizations_total
alert_prefix: {_scalar(o.prefix)}          # alert names: {o.prefix}DuplicateChargeDetected

links:
  runbook_base_url: {_scalar(f'https://git.example.com/{o.service}/runbooks/')}  # TODO: where runbooks/ is browsable
  dashboard_base_url: http://localhost:3000/d/                     # TODO: your Grafana
  overview_dashboard: {_scalar(f'{o.namespace}-overview')}

# Optional domains: a feature that is off has no signals, rules, panels, gates, runbook pages or drills,
# and the library's methods for it do nothing.
features: {{{features}}}

providers:
{providers}

# ISO 4217 codes; money is integer minor units in each currency's own exponent (JPY 0 digits, USD 2, KWD 3).
currencies: {_flow(o.currencies)}

signals:
{_signals(o)}
slos:
  authorization-availability:
    description: Authorizations that got an answer (approved or declined) rather than an error or timeout.
    objective: 99.9
    window: 30d
    sli:
      good: '{Key.AUTHORIZATIONS_TOTAL}{{outcome=~"approved|declined"}}'
      total: {Key.AUTHORIZATIONS_TOTAL}
  authorization-latency:
    description: Authorizations answered within 300 ms.
    objective: 99.0
    window: 30d
    sli:
      latency: {{signal: {Key.AUTHORIZATION_DURATION_SECONDS}, under: 0.3}}
{_ledger_slo(o)}
{_cost(o)}
# Who gets what: page and ticket routes, and who is paged for money loss. Where a receiver delivers in
# production (pagerduty, opsgenie, slack, webhook; secrets by file only) goes under it, for example
#   {pager}: {{description: ..., pagerduty: {{routing_key_file: /etc/alertmanager/secrets/pagerduty}}}}
# and `moneypath build` writes alerts/alertmanager.production.yml (moneypath docs: alerts.md, "Production receivers").
receivers:
  {pager}: {{description: {_scalar(f"Primary on-call engineer for {o.service}.")}}}
  compliance: {{description: Compliance officer on duty; decides on regulatory notification.}}
  {tickets}: {{description: {_scalar(f"{o.service} ticket queue, next business day.")}}}
routes:
  page: {pager}
  money_loss: [{pager}, compliance]
  ticket: {tickets}

# The first hour: every runbook page gives each role a checkpoint.
roles:
  incident_commander: {{receiver: {pager}, duty: Leads the incident and decides mitigations.}}
  engineering: {{receiver: {pager}, duty: Diagnoses and mitigates.}}
  communications: {{receiver: {pager}, duty: Status page and customer support briefing.}}
  compliance: {{receiver: compliance, duty: Classifies the incident and owns regulatory notification clocks.}}
  customer_support: {{receiver: {tickets}, duty: Answers customers and prepares remediation lists.}}

# The money checks a drill runs on your database (`moneypath drill run --db-url`), in your own table
# names; `moneypath lint --db-url` prepares each one there (EXPLAIN, read-only). One you leave out is
# reported as "not measured", never as money lost and never as a pass. Uncomment and adapt:
# money_checks:
#   payments: SELECT id FROM payments WHERE id IN :ids       # which acknowledged payment ids are stored
#   captures: SELECT payment_id AS id FROM captures WHERE payment_id IN :ids   # which have a capture booked
#   # the provider's records: how many captures each payment has there (each must be 1)
#   capture_counts: >-
#     SELECT payment_id AS id, COUNT(*) AS captures FROM provider_captures WHERE payment_id IN :ids GROUP BY payment_id
#   refunds: SELECT id, amount_minor AS captured_minor, refunded_minor FROM payments WHERE id IN :ids  # refunded <= captured
{_balance_hint(o)}
{money_path_yaml(o.service, o.providers, o.on)}
# Alerts (last, so yours can be appended below). Built-in alerts take a threshold; your own give
# `expr:` (PromQL over the signals above and the recording rules), e.g.
#   ApprovalRateLow:
#     severity: ticket
#     for: 10m
#     summary: Fewer than 80% of authorizations are approved.
#     expr: sum(rate({auth}{{outcome="approved"}}[10m])) / sum(rate({auth}[10m])) < 0.8
alerts:
{_alerts(o)}"""
