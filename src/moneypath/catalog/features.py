"""Optional domains of a money path, switched on and off in the catalog (`features:`).

A feature owns a slice: its built-in signals, its built-in alerts, and (by name) the recording
rules, dashboard rows, load-test gates, runbook pages and drills the tools generate for it. A
disabled feature's slice exists nowhere; the library's methods for it do nothing. Everything
not listed here (authorizations, providers, duplicates, HTTP) is the core every money path has.
"""

from __future__ import annotations

from dataclasses import dataclass

from moneypath.catalog.conventions import AlertKey, Key


@dataclass(frozen=True)
class Feature:
    description: str
    signals: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()  # built-in alert keys (catalog `alerts:` names, no prefix)
    # Whether a catalog that does not list it has it. A feature added after catalogs were written is off
    # unless listed, so those catalogs stay valid (they lack its signals) and nothing new pages them.
    default: bool = True


FEATURES: dict[str, Feature] = {
    # On unless listed: catalogs written before it declare the ledger's signals and alerts, and keep them;
    # `moneypath init` lists every feature, so a new project without --features ledger has none of it.
    "ledger": Feature("a double-entry ledger: balanced write transactions and postings summing to 0 per currency",
                      (Key.LEDGER_WRITES_TOTAL, Key.LEDGER_WRITE_DURATION_SECONDS, Key.LEDGER_IMBALANCE_MINOR),
                      (AlertKey.LEDGER_IMBALANCE, AlertKey.LEDGER_WRITE_FAILURES)),
    "fraud": Feature("risk screening before authorization",
                     (Key.FRAUD_DECISIONS_TOTAL, Key.FRAUD_SCORE_RATIO, Key.FRAUD_CHECK_TIMEOUTS_TOTAL),
                     (AlertKey.FRAUD_SPIKE,)),
    "queues": Feature("outbox queues and a dead-letter table", (Key.QUEUE_DEPTH, Key.DEAD_LETTERS_TOTAL),
                      (AlertKey.DEAD_LETTERS_GROWING,)),
    "reconciliation": Feature("matching the ledger to provider settlements",
                              (Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS,
                               Key.RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS,
                               Key.RECONCILIATION_MISMATCHES_TOTAL),
                              (AlertKey.RECONCILIATION_LAG_HIGH, AlertKey.SETTLEMENT_MISMATCH)),
    "payouts": Feature("money sent out to merchants or customers"),
    # On unless listed: catalogs written before it declare the breaker's signal, and keep it.
    "breaker": Feature("a circuit breaker per provider, refusing calls while it is open",
                       (Key.PROVIDER_CIRCUIT_STATE,)),
    "webhooks": Feature("provider webhooks with signature checks", (Key.WEBHOOKS_TOTAL,)),
    "idempotency": Feature("idempotency keys answered from stored responses", (Key.IDEMPOTENT_REPLAYS_TOTAL,)),
    "cost": Feature("a cost model and cost per transaction", (Key.COST_USD_TOTAL,),
                    (AlertKey.COST_PER_TRANSACTION_REGRESSION,)),
    "audit": Feature("a hash-chained audit trail of every change to a financial record (off unless listed)",
                     (Key.AUDIT_CHAIN_BROKEN, Key.AUDIT_CHECKPOINT_SEQ, Key.AUDIT_HEAD_SEQ),
                     (AlertKey.AUDIT_CHAIN_BROKEN, AlertKey.AUDIT_CHECKPOINT_STALE), default=False),
    "admission": Feature("admission control: past its capacity the service refuses requests at once (503 + "
                         "Retry-After) instead of queueing them (off unless listed)",
                         (Key.REQUESTS_SHED_TOTAL,), (AlertKey.LOAD_SHEDDING,), default=False),
    "graphql": Feature("a GraphQL API: operations counted and timed by operation name and outcome (off unless "
                       "listed)", (Key.GRAPHQL_OPERATIONS_TOTAL, Key.GRAPHQL_OPERATION_DURATION_SECONDS), default=False),
}

# Built-in alerts of the core: their rule shapes need only core signals.
CORE_ALERTS = (AlertKey.DUPLICATE_CHARGE_DETECTED, AlertKey.PROVIDER_PARTIAL_OUTAGE, AlertKey.APPROVAL_RATE_DROP,
               AlertKey.AUTHORIZATIONS_SILENT,
               AlertKey.INCIDENT_REPORT_DUE)
BUILTIN_ALERTS: dict[str, str | None] = {
    **dict.fromkeys(CORE_ALERTS),
    **{alert: name for name, f in FEATURES.items() for alert in f.alerts},
}
SIGNAL_FEATURE: dict[str, str] = {sig: name for name, f in FEATURES.items() for sig in f.signals}
