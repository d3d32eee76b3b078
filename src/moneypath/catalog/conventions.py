"""Names in one place: the built-in signal and alert keys the library and generators use, the recording-rule and
SLO names, the burn-rate windows (as data), and the Locust exporter's metric names.

Code says `Key.LEDGER_WRITES_TOTAL` or `AlertKey.LEDGER_IMBALANCE`, never the string, so renaming a signal or an
alert fails in one place. The catalog maps a key to its metric name (`catalog.metric(key)`: namespace + key).
"""

from __future__ import annotations

import re


class Key:
    """Catalog keys of the built-in signals (moneypath.yaml `signals:`)."""

    AUTHORIZATION_DURATION_SECONDS = "authorization_duration_seconds"
    AUTHORIZATIONS_TOTAL = "authorizations_total"
    LEDGER_WRITES_TOTAL = "ledger_writes_total"
    LEDGER_WRITE_DURATION_SECONDS = "ledger_write_duration_seconds"
    LEDGER_IMBALANCE_MINOR = "ledger_imbalance_minor"
    RECONCILIATION_OLDEST_UNRECONCILED_SECONDS = "reconciliation_oldest_unreconciled_seconds"
    RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS = "reconciliation_last_success_timestamp_seconds"
    RECONCILIATION_MISMATCHES_TOTAL = "reconciliation_mismatches_total"
    DUPLICATE_CHARGES_TOTAL = "duplicate_charges_total"
    DUPLICATE_CHARGED_MINOR_TOTAL = "duplicate_charged_minor_total"
    QUEUE_DEPTH = "queue_depth"
    DEAD_LETTERS_TOTAL = "dead_letters_total"
    PROVIDER_REQUESTS_TOTAL = "provider_requests_total"
    PROVIDER_REQUEST_DURATION_SECONDS = "provider_request_duration_seconds"
    PROVIDER_RETRIES_TOTAL = "provider_retries_total"
    PROVIDER_CIRCUIT_STATE = "provider_circuit_state"
    IDEMPOTENT_REPLAYS_TOTAL = "idempotent_replays_total"
    WEBHOOKS_TOTAL = "webhooks_total"
    CARD_NUMBERS_TOTAL = "card_numbers_total"
    FRAUD_DECISIONS_TOTAL = "fraud_decisions_total"
    FRAUD_SCORE_RATIO = "fraud_score_ratio"
    FRAUD_CHECK_TIMEOUTS_TOTAL = "fraud_check_timeouts_total"
    COST_USD_TOTAL = "cost_usd_total"
    HTTP_REQUESTS_TOTAL = "http_requests_total"
    HTTP_REQUEST_DURATION_SECONDS = "http_request_duration_seconds"
    INSTRUMENTATION_ERRORS_TOTAL = "instrumentation_errors_total"
    AUDIT_CHAIN_BROKEN = "audit_chain_broken"
    REQUESTS_SHED_TOTAL = "requests_shed_total"
    AUDIT_CHECKPOINT_SEQ = "audit_checkpoint_seq"  # optional: recorded when the catalog declares it
    AUDIT_HEAD_SEQ = "audit_head_seq"  # optional: the head the service's check last verified
    GRAPHQL_OPERATIONS_TOTAL = "graphql_operations_total"
    GRAPHQL_OPERATION_DURATION_SECONDS = "graphql_operation_duration_seconds"
    DETECTOR_LAST_RUN_TIMESTAMP_SECONDS = "detector_last_run_timestamp_seconds"  # optional: detectors' heartbeat


class ErrorReason:
    """The `reason` label (ERROR_REASON_LABEL) of instrumentation_errors_total: why the instrumentation counted an
    error. A bounded set the library owns; a catalog declares the label with exactly these values."""

    FAILURE = "failure"  # a recording method raised (swallowed)
    UNKNOWN_VALUE = "unknown_value"  # a label value outside the catalog, recorded as "other"
    UNMATCHED = "unmatched"  # what the catalog declares recorded as "other" by an integration
    SEVERAL_PROCESSES = "several_processes"  # workers behind one port without PROMETHEUS_MULTIPROC_DIR
    UNDECLARED_ROUTE = "undeclared_route"  # a route the app serves that the catalog does not declare


ERROR_REASON_LABEL = "reason"
ERROR_REASONS = (ErrorReason.FAILURE, ErrorReason.UNKNOWN_VALUE, ErrorReason.UNMATCHED, ErrorReason.SEVERAL_PROCESSES,
                 ErrorReason.UNDECLARED_ROUTE)

class AlertKey:
    """Catalog keys of the built-in business alerts (moneypath.yaml `alerts:`; the catalog adds its prefix to
    make the alert name). SLO burn-rate alerts are named by `slo_alert_key`."""

    LEDGER_IMBALANCE = "LedgerImbalance"
    LEDGER_WRITE_FAILURES = "LedgerWriteFailures"
    DUPLICATE_CHARGE_DETECTED = "DuplicateChargeDetected"
    RECONCILIATION_LAG_HIGH = "ReconciliationLagHigh"
    SETTLEMENT_MISMATCH = "SettlementMismatch"
    DEAD_LETTERS_GROWING = "DeadLettersGrowing"
    PROVIDER_PARTIAL_OUTAGE = "ProviderPartialOutage"
    APPROVAL_RATE_DROP = "ApprovalRateDrop"
    FRAUD_SPIKE = "FraudSpike"
    COST_PER_TRANSACTION_REGRESSION = "CostPerTransactionRegression"
    AUTHORIZATIONS_SILENT = "AuthorizationsSilent"
    AUDIT_CHAIN_BROKEN = "AuditChainBroken"
    AUDIT_CHECKPOINT_STALE = "AuditCheckpointStale"
    LOAD_SHEDDING = "LoadShedding"
    # Generated while the catalog declares `readiness:` (moneypath.generate.readiness_rules): tickets, never pages.
    READINESS_LAPSED = "ReadinessLapsed"
    TIME_TO_PAGE_CREEPING = "TimeToPageCreeping"
    INCIDENT_REPORT_DUE = "IncidentReportDue"  # a DORA report's deadline is near (moneypath incident clock)


class Detector:
    """Detectors: jobs on their own schedule whose healthy output is 0 (moneypath.catalog.detectors). Each run sets
    its heartbeat, `Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS{DETECTOR_LABEL="<name>"}`."""

    DUPLICATES = "duplicates"
    RECONCILIATION = "reconciliation"
    LEDGER_BALANCE = "ledger_balance"
    AUDIT_CHAIN = "audit_chain"


DETECTOR_LABEL = "detector"


# Outcomes of a GraphQL operation: answered; named by the answer's `errors` (a resolver raised, validation
# failed); answered with a non-empty user-errors list in its payload (the request was refused, not broken).
GRAPHQL_OUTCOMES = ("ok", "error", "rejected")


# ---------------------------------------------------------------- SLO recording rules and alerts

SLI_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
# (severity, long window, short window, burn-rate factor) — SRE Workbook, table 5-8.
BURN_RATE_PAIRS = (
    ("page", "1h", "5m", 14.4),
    ("page", "6h", "30m", 6.0),
    ("ticket", "1d", "2h", 3.0),
    ("ticket", "3d", "6h", 1.0),
)
# The low-traffic guard: a burn-rate alert pages only when its long window holds at least this many
# events (per SLO `min_events`), so 3 errors out of 5 requests at 03:00 never page by themselves. 100
# events keep one failed request from being more than 1 % of the window: below the 1.44 % a 99.9 %
# SLO pages at over 1h, so a single failure can never page on its own at that volume either.
DEFAULT_MIN_EVENTS = 100
# ApprovalRateDrop compares a provider and method's recent approval share with its own last day, and
# only when the recent window holds this many answers (approved + declined), unless `min_events` says.
APPROVAL_RECENT_WINDOW = "30m"
APPROVAL_BASELINE_WINDOW = "1d"
# Business alerts with a volume floor (catalog `min_events`), and its default: below it, a ratio or a
# silence says nothing at night. ProviderPartialOutage: calls to the provider in its 5 minutes;
# AuthorizationsSilent: authorizations in the same 5 minutes a day ago (2 a minute: five silent minutes at
# that rate happen by chance once in 20,000).
# Outcomes of a provider call that failed from the payment's point of view (circuit_open: refused by the breaker).
PROVIDER_FAILURE_OUTCOMES = ("error", "timeout", "circuit_open")
MIN_EVENTS_DEFAULTS = {AlertKey.APPROVAL_RATE_DROP: 50, AlertKey.PROVIDER_PARTIAL_OUTAGE: 10,
                       AlertKey.AUTHORIZATIONS_SILENT: 10}
# The dead man's switch: an alert that always fires, routed to a receiver outside (Healthchecks, Dead Man's
# Snitch) that pages when the heartbeat stops; "none" is its severity (kube-prometheus' convention).
WATCHDOG_ALERT = "Watchdog"
WATCHDOG_SEVERITY = "none"
# Prometheus in pairs: each replica's external label, dropped from alerts so the Alertmanager cluster sees
# one alert, not two; the watchdog keeps it as HEARTBEAT_FROM, so a silent replica shows.
REPLICA_LABEL = "replica"
# The labels a scrape gives each instance of a service: an alert must aggregate them away (one page, not N).
INSTANCE_LABELS = ("instance", "pod")
# Which process answered: the header the library sets on every answer, and the info series (the catalog's
# namespace before its name, one per live process, value 1) that its /metrics reports the same identity in.
# docs/decisions/0026-instance-identity-header.md
INSTANCE_HEADER = "MoneyPath-Instance"
INSTANCE_INFO = "instance_info"
INSTANCE_ID_LABEL = "instance_id"
# The replicas of the HA shape (`moneypath up --ha`): their replica label values, and the monitoring parts that
# run in pairs (a drill's replica_down names one of each).
HA_REPLICAS = ("a", "b")
HA_COMPONENTS = ("prometheus", "alertmanager")
HEARTBEAT_FROM_LABEL = "heartbeat_from"
SLO_OBJECTIVE_RECORD = "slo:objective:ratio"
SLO_BUDGET_RECORD = "slo:error_budget:ratio"
SLO_BUDGET_REMAINING_RECORD = "slo:error_budget_remaining:ratio"


def sli_error_record(window: str) -> str:
    """Name of the recording rule holding an SLO's error ratio over a window (label slo=<key>)."""
    return f"slo:sli_error:ratio_rate{window}"


def sli_events_record(window: str) -> str:
    """Name of the recording rule holding how many events an SLO counted over a window (label slo=<key>)."""
    return f"slo:sli_events:increase{window}"


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_]", name))


def slo_alert_key(slo_key: str) -> str:
    """Catalog-style alert key of an SLO's burn-rate alert (prefix added by the catalog)."""
    return f"{camel(slo_key)}BudgetBurn"


# ---------------------------------------------------------------- load tests

# What Locust's Prometheus exporter (moneypath.loadtest.in_locust.exporter, locust_exporter's names) serves.
LOCUST_METRICS = {
    "requests": "locust_requests_num_requests",
    "failures": "locust_requests_num_failures",
    "rps": "locust_requests_current_rps",
    "avg_response_ms": "locust_requests_avg_response_time",
    "users": "locust_users",
}

# What prometheus_client's process collector serves for any Python service (and most other clients'):
# the soak drift reads a service's CPU and memory from them when it has no local processes to measure.
PROCESS_METRICS = {
    "cpu_seconds": "process_cpu_seconds_total",
    "resident_bytes": "process_resident_memory_bytes",
}


# ---------------------------------------------------------------- drill readiness

# What `moneypath readiness serve` exports per paging alert (label READINESS_ALERT_LABEL: the full alert name;
# label `service`: the catalog's) and the generated readiness rules and dashboard query. Times are real time.
# The per-run series carry READINESS_RUN_LABEL: "1" the newest run with a time to page, "2" the one before, …
READINESS_METRICS = {
    "last_pass": "moneypath_readiness_last_pass_timestamp_seconds",
    "policy": "moneypath_readiness_policy_seconds",
    "page_deadline": "moneypath_readiness_page_deadline_seconds",
    "time_to_page": "moneypath_readiness_time_to_page_seconds",
    "time_to_diagnose": "moneypath_readiness_time_to_diagnose_seconds",
    "time_to_recover": "moneypath_readiness_time_to_recover_seconds",
    "run_started": "moneypath_readiness_run_started_timestamp_seconds",
    "records": "moneypath_readiness_history_records",
    "history_verified": "moneypath_readiness_history_verified",
}
READINESS_ALERT_LABEL = "alert"
READINESS_RUN_LABEL = "run"


# ---------------------------------------------------------------- incident reporting clocks (DORA)

# What `moneypath incident clock serve` exports (the catalog's namespace before each): per open incident, when
# its team became aware and classified it, and per report kind (initial, intermediate, final) its deadline while
# it is due, and when it was submitted. IncidentReportDue compares the deadline with time().
INCIDENT_METRICS = {
    "deadline": "incident_report_deadline_timestamp_seconds",
    "submitted": "incident_report_submitted_timestamp_seconds",
    "aware": "incident_aware_timestamp_seconds",
    "classified": "incident_classified_timestamp_seconds",
}
INCIDENT_LABEL, REPORT_LABEL = "incident", "report"
REPORT_KINDS = ("initial", "intermediate", "final")


def incident_series(namespace: str) -> dict[str, tuple[str, ...]]:
    """Full name → labels of each series the incident clock exporter serves (rules may read them although
    no catalog signal declares them)."""
    return {f"{namespace}_{suffix}": (INCIDENT_LABEL,) if key in ("aware", "classified") else (INCIDENT_LABEL,
                                                                                              REPORT_LABEL)
            for key, suffix in INCIDENT_METRICS.items()}


def served_by_moneypath(name: str) -> bool:
    """Whether a series name is one moneypath's own exporters serve (not the service: a live lint of the
    service's Prometheus does not expect it there)."""
    return any(name.endswith(f"_{suffix}") for suffix in INCIDENT_METRICS.values())


# ---------------------------------------------------------------- the canary judge (moneypath.canary)

# The label values a canary metric counts as bad, or leaves out (the outcome values the catalog's signals declare).
AUTHORIZATION_APPROVED, AUTHORIZATION_DECLINED = "approved", "declined"
OUTCOME_LABEL = "outcome"  # the label a signal's outcome is in (authorizations_total's: approved, declined...)
PROVIDER_CALL_ERROR, PROVIDER_CALL_TIMEOUT = "error", "timeout"
LEDGER_WRITE_FAILED = "failed"
COST_INFRASTRUCTURE = "infrastructure"  # per process hour, not per transaction: a 10 % canary would look dearer
# Reconciliation breaks (money_checks.breaks `kind`) that are money invariants: a capture charged twice, and money
# the provider captured that the service's own records do not hold (an acknowledged write lost).
BREAK_DUPLICATE, BREAK_MISSING_IN_LEDGER = "duplicate", "missing_in_ledger"
# When a canary started, unless told: the newest start among its processes (prometheus_client's process collector).
PROCESS_START_METRIC = "process_start_time_seconds"
CANARY_STATE_FILE = "canary-state.json"  # the sequential tests' state between judge passes, in the state dir
# Canary drills (moneypath.canary.drill_run): the scrape label that tells a baseline's series from a canary's, and
# its two values; the judge's selectors are `track="baseline"` and `track="canary"`.
TRACK_LABEL = "track"
TRACKS = ("baseline", "canary")
