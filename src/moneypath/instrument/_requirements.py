"""What the recording API (moneypath.instrument._signals.MoneyPath) needs from a catalog: the signal keys it
records into, with the type and label names each method needs, the methods each optional domain switches
off, and `check_required`, which says why a catalog cannot bind (the generators and the lint call it too)."""

from __future__ import annotations

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import ERROR_REASON_LABEL, ERROR_REASONS, Key
from moneypath.catalog.features import SIGNAL_FEATURE

# The signal keys this API records into, with the type and label names each method
# needs. The catalog owns the names, help, buckets and allowed values.
REQUIRED_SIGNALS: dict[str, tuple[str, tuple[str, ...]]] = {
    Key.AUTHORIZATION_DURATION_SECONDS: ("histogram", ("provider", "method", "outcome")),
    Key.AUTHORIZATIONS_TOTAL: ("counter", ("provider", "method", "outcome")),
    Key.LEDGER_WRITES_TOTAL: ("counter", ("outcome",)),
    Key.LEDGER_WRITE_DURATION_SECONDS: ("histogram", ()),
    Key.LEDGER_IMBALANCE_MINOR: ("gauge", ("currency",)),
    Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS: ("gauge", ("provider",)),
    Key.RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS: ("gauge", ("provider",)),
    Key.RECONCILIATION_MISMATCHES_TOTAL: ("counter", ("provider", "mismatch_kind")),
    Key.DUPLICATE_CHARGES_TOTAL: ("counter", ("provider",)),
    Key.DUPLICATE_CHARGED_MINOR_TOTAL: ("counter", ("currency",)),
    Key.QUEUE_DEPTH: ("gauge", ("queue",)),
    Key.DEAD_LETTERS_TOTAL: ("counter", ("queue",)),
    Key.PROVIDER_REQUESTS_TOTAL: ("counter", ("provider", "operation", "outcome")),
    Key.PROVIDER_REQUEST_DURATION_SECONDS: ("histogram", ("provider", "operation")),
    Key.PROVIDER_RETRIES_TOTAL: ("counter", ("provider", "operation")),
    Key.PROVIDER_CIRCUIT_STATE: ("gauge", ("provider",)),
    Key.IDEMPOTENT_REPLAYS_TOTAL: ("counter", ("operation",)),
    Key.WEBHOOKS_TOTAL: ("counter", ("provider", "outcome")),
    Key.FRAUD_DECISIONS_TOTAL: ("counter", ("decision",)),
    Key.FRAUD_SCORE_RATIO: ("histogram", ()),
    Key.FRAUD_CHECK_TIMEOUTS_TOTAL: ("counter", ("fallback",)),
    Key.COST_USD_TOTAL: ("counter", ("component", "provider")),
    Key.HTTP_REQUESTS_TOTAL: ("counter", ("route", "method", "status_class")),
    Key.HTTP_REQUEST_DURATION_SECONDS: ("histogram", ("route", "method")),
    Key.INSTRUMENTATION_ERRORS_TOTAL: ("counter", (ERROR_REASON_LABEL,)),
    Key.AUDIT_CHAIN_BROKEN: ("gauge", ()),
    Key.REQUESTS_SHED_TOTAL: ("counter", ("priority",)),
    Key.GRAPHQL_OPERATIONS_TOTAL: ("counter", ("operation", "outcome")),
    Key.GRAPHQL_OPERATION_DURATION_SECONDS: ("histogram", ("operation",)),
}

# Label names a catalog written before a label existed may still declare: errors counted without their reason.
EARLIER_LABELS: dict[str, tuple[str, ...]] = {Key.INSTRUMENTATION_ERRORS_TOTAL: ()}

# Signals this API records into when the catalog has them (a catalog written before they existed stays valid:
# their methods then do nothing); checked like the required ones when present.
OPTIONAL_SIGNALS: dict[str, tuple[str, tuple[str, ...]]] = {
    Key.CARD_NUMBERS_TOTAL: ("counter", ("source", "action")),
    Key.AUDIT_CHECKPOINT_SEQ: ("gauge", ()),
    Key.AUDIT_HEAD_SEQ: ("gauge", ()),
    Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS: ("gauge", ("detector",)),
}

# The recording methods of each optional domain: no-ops while the catalog has the feature off.
FEATURE_METHODS: dict[str, tuple[str, ...]] = {
    "ledger": ("record_ledger_write", "set_ledger_imbalance"),
    "fraud": ("record_fraud_decision", "count_fraud_timeout"),
    "queues": ("set_queue_depth", "count_dead_letter"),
    "reconciliation": ("record_reconciliation", "count_mismatch"),
    "payouts": (),
    "breaker": ("set_circuit_state",),
    "webhooks": ("count_webhook",),
    "idempotency": ("count_idempotent_replay",),
    "cost": ("add_cost",),
    "audit": ("set_audit_chain", "set_audit_checkpoint", "set_audit_head"),
    "admission": ("count_shed",),
    "graphql": ("record_graphql_operation",),
}

CIRCUIT_STATES = {"closed", "half_open", "open"}


def check_required(catalog: Catalog) -> list[str]:
    """Problems that stop this API from binding to the catalog (empty when it can)."""
    problems = []
    for key, (kind, labels) in (REQUIRED_SIGNALS | OPTIONAL_SIGNALS).items():
        sig = catalog.signals.get(key)
        feature = SIGNAL_FEATURE.get(key)
        if sig is None and (key in OPTIONAL_SIGNALS or feature and not catalog.enabled(feature)):
            continue
        if sig is None:
            hint = f" (or set features.{feature}: false)" if feature else ""
            problems.append(f"{catalog.path}: signals.{key}: missing; moneypath.instrument records into it{hint}")
        elif sig.type != kind or (sorted(sig.label_names) != sorted(labels)
                                  and tuple(sig.label_names) != EARLIER_LABELS.get(key)):
            problems.append(f"{catalog.path}: signals.{key}: must be a {kind} with labels {list(labels)}"
                            f" (has a {sig.type} with {list(sig.label_names)})")
    errors = catalog.signals.get(Key.INSTRUMENTATION_ERRORS_TOTAL)
    reasons = errors.labels.get(ERROR_REASON_LABEL) if errors is not None else None
    if reasons is not None and sorted(reasons) != sorted(ERROR_REASONS):
        problems.append(f"{catalog.path}: signals.{Key.INSTRUMENTATION_ERRORS_TOTAL}.labels.{ERROR_REASON_LABEL}: "
                        f"must be exactly [{', '.join(ERROR_REASONS)}] (the reasons moneypath.instrument counts)")
    circuit = catalog.signals.get(Key.PROVIDER_CIRCUIT_STATE)
    if circuit is not None and not CIRCUIT_STATES <= set(circuit.enum or {}):
        problems.append(f"{catalog.path}: signals.provider_circuit_state.enum: must map "
                        f"{', '.join(sorted(CIRCUIT_STATES))} to numbers")
    return problems
