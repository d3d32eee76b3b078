"""`MoneyPath`: the typed recording API a payment service calls on every payment.

Every method is safe on the money path: a failure inside it is counted in
`<namespace>_instrumentation_errors_total` and swallowed. Label values outside the
catalog's declared sets are recorded as "other", counted as an instrumentation error (one
per series recorded into "other") and logged once per (signal, label, value), so a typo (`"stirpe"` for `"stripe"`)
shows on the first scrape. Strict mode (`MoneyPath(..., strict=True)`, or the environment's
MONEYPATH_STRICT=1) raises every such failure instead, for a service's own tests.

The methods of an optional domain the catalog switches off (`features:`, see
moneypath.catalog.features) are no-ops on that instance: they take any arguments, record
nothing, count no instrumentation error and cost one empty call, so a service can call them
whatever its catalog says.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

from opentelemetry.context import get_current

from moneypath.catalog import Catalog, CatalogError, load_catalog
from moneypath.catalog.conventions import Key
from moneypath.catalog.features import SIGNAL_FEATURE
from moneypath.instrument import _families as families
from moneypath.instrument._detectors import DetectorSignals
from moneypath.instrument._failures import FailurePath, error_children
from moneypath.instrument._families import Family
from moneypath.instrument._requirements import FEATURE_METHODS, OPTIONAL_SIGNALS, REQUIRED_SIGNALS, check_required
from moneypath.instrument._timers import AuthorizationTimer, LedgerTimer
from moneypath.instrument._tracing import trace_exemplar
from moneypath.instrument._web_signals import WebSignals

log = logging.getLogger("moneypath.instrument")

_BOUND = REQUIRED_SIGNALS | OPTIONAL_SIGNALS
_INF = math.inf
STRICT_ENV = "MONEYPATH_STRICT"


class MoneyPath(WebSignals, DetectorSignals, FailurePath):
    """Record money-path signals. Create once per process, share everywhere.

    >>> mp = MoneyPath.from_catalog("moneypath.yaml")
    >>> with mp.time_authorization("acme", "card") as auth:
    ...     auth.outcome = "approved"
    """

    def __init__(self, catalog: Catalog, backend=None, strict: bool | None = None):
        """`strict` (default: MONEYPATH_STRICT=1 in the environment) raises every instrumentation failure, an
        undeclared label value included, instead of counting and swallowing it: for tests, never production."""
        problems = check_required(catalog)
        if problems:
            raise CatalogError(problems)
        if backend is None:
            from moneypath.instrument._prometheus_backend import PrometheusBackend

            backend = PrometheusBackend()
        self.catalog = catalog
        self.backend = backend
        self.strict = os.environ.get(STRICT_ENV, "") == "1" if strict is None else strict
        off = [name for name in FEATURE_METHODS if not catalog.enabled(name)]
        # Built-in keys of a disabled feature: the generic count/observe/set ignore them silently.
        self._disabled_keys = frozenset(key for key, feature in SIGNAL_FEATURE.items() if feature in off)
        # Required signals take label values in this API's argument order, whatever the catalog's order.
        self.families: dict[str, Family] = {
            key: backend.family(sig, _BOUND[key][1] if key in _BOUND and sig.label_names else None)
            for key, sig in catalog.signals.items() if key not in self._disabled_keys}
        for name in off:
            for method in FEATURE_METHODS[name]:
                setattr(self, method, _disabled)  # the instance's no-op shadows the method
        f = self.families
        self._auth_seconds = f[Key.AUTHORIZATION_DURATION_SECONDS]
        self._auth_total = f[Key.AUTHORIZATIONS_TOTAL]
        # The hottest call gets one cache lookup for both of its children.
        self._auth_pairs: dict[tuple, tuple] = {}
        self._auth_exemplars = self._auth_seconds.exemplars
        if catalog.enabled("ledger"):  # off: record_ledger_write and set_ledger_imbalance are no-ops (above)
            self._ledger_total = f[Key.LEDGER_WRITES_TOTAL]
            self._ledger_total_cache = self._ledger_total._cache
            self._ledger_seconds = f[Key.LEDGER_WRITE_DURATION_SECONDS].child(())
            self._ledger_exemplars = f[Key.LEDGER_WRITE_DURATION_SECONDS].exemplars
            self._imbalance = f[Key.LEDGER_IMBALANCE_MINOR]
        self._duplicates = f[Key.DUPLICATE_CHARGES_TOTAL]
        self._duplicate_minor = f[Key.DUPLICATE_CHARGED_MINOR_TOTAL]
        self._provider_total = f[Key.PROVIDER_REQUESTS_TOTAL]
        self._provider_seconds = f[Key.PROVIDER_REQUEST_DURATION_SECONDS]
        self._provider_retries = f[Key.PROVIDER_RETRIES_TOTAL]
        self._bind_web(f)  # HTTP and GraphQL: moneypath.instrument._web_signals
        self._bind_detectors(f)  # the detectors' heartbeat: moneypath.instrument._detectors
        self._errors = error_children(f[Key.INSTRUMENTATION_ERRORS_TOTAL])
        self._errors_name = catalog.metric(Key.INSTRUMENTATION_ERRORS_TOTAL)
        # Optional domains: None while the feature is off (their methods are no-ops then, see above).
        opt = f.get
        self._recon_age = opt(Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS)
        self._recon_success = opt(Key.RECONCILIATION_LAST_SUCCESS_TIMESTAMP_SECONDS)
        self._mismatches = opt(Key.RECONCILIATION_MISMATCHES_TOTAL)
        self._queue_depth = opt(Key.QUEUE_DEPTH)
        self._dead_letters = opt(Key.DEAD_LETTERS_TOTAL)
        self._replays = opt(Key.IDEMPOTENT_REPLAYS_TOTAL)
        self._webhooks = opt(Key.WEBHOOKS_TOTAL)
        self._card_numbers = opt(Key.CARD_NUMBERS_TOTAL)
        self._fraud = opt(Key.FRAUD_DECISIONS_TOTAL)
        score = opt(Key.FRAUD_SCORE_RATIO)
        self._fraud_score = score.child(()) if score is not None else None
        self._fraud_timeouts = opt(Key.FRAUD_CHECK_TIMEOUTS_TOTAL)
        self._cost = opt(Key.COST_USD_TOTAL)
        self._cost_cache = self._cost._cache if self._cost is not None else {}
        audit = opt(Key.AUDIT_CHAIN_BROKEN)
        self._audit_broken = audit.child(()) if audit is not None else None
        self._shed = opt(Key.REQUESTS_SHED_TOTAL)
        self._circuit = opt(Key.PROVIDER_CIRCUIT_STATE)
        self._circuit_codes = (self._circuit.signal.enum or {}) if self._circuit is not None else {}
        # Optional within the feature (catalogs written before it lack it): not declared, not recorded.
        checkpoint = opt(Key.AUDIT_CHECKPOINT_SEQ)
        self._audit_checkpoint = checkpoint.child(()) if checkpoint is not None else None
        head = opt(Key.AUDIT_HEAD_SEQ)
        self._audit_head = head.child(()) if head is not None else None
        self._logged_failures: set[str] = set()
        self._logged_unknown: set[tuple] = set()
        self._logged_unmatched: set[tuple] = set()
        self._undeclared_routes: set[str] = set()
        for family in self.families.values():
            # Every method reports a value outside the catalog alike; the middlewares fold the routes and methods
            # their framework gives (/docs, a HEAD) into "other" beforehand (WebSignals.record_request).
            family.on_unknown = self._unknown_value
            if family.signal.type == "counter":
                families.initialize(family)
        registry = getattr(backend, "registry", None)
        if registry is not None:  # checked when /metrics is first served in each process
            from moneypath.instrument.exposition import report_shared_port

            report_shared_port(registry, self._several_processes)
        publish = getattr(backend, "publish_identity", None)
        if publish is not None:  # which process answers: moneypath.instrument._identity
            publish(catalog.namespace)

    @classmethod
    def from_catalog(cls, path: str | Path = "moneypath.yaml", backend: str = "prometheus", **options: Any) -> MoneyPath:
        """Build from a catalog file. `backend` is "prometheus" (default; `registry=` optional),
        "otel" (`meter_provider=`, `metric_readers=` or the OTEL_EXPORTER_OTLP_* env) or "none"
        (metrics off: every call is a no-op)."""
        catalog = load_catalog(path)
        if backend == "prometheus":
            from moneypath.instrument._prometheus_backend import PrometheusBackend

            return cls(catalog, PrometheusBackend(**options))
        if backend == "otel":
            from moneypath.instrument.otel import OtelBackend

            return cls(catalog, OtelBackend(catalog.service, **options))
        if backend == "none":
            from moneypath.instrument._null import NullBackend

            return cls(catalog, NullBackend())
        raise ValueError(f"unknown metrics backend {backend!r} (use 'prometheus', 'otel' or 'none')")

    # ------------------------------------------------------------ exposition

    @property
    def registry(self):
        """The prometheus-client registry (Prometheus backend only)."""
        registry = getattr(self.backend, "registry", None)
        if registry is None:
            raise RuntimeError("the OpenTelemetry backend exports over OTLP; there is no /metrics registry")
        return registry

    def metrics_app(self):
        """ASGI app for `/metrics` that renders off the event loop (OpenMetrics with exemplars)."""
        from moneypath.instrument.exposition import MetricsApp

        return MetricsApp(self.registry)

    def start_metrics_server(self, port: int, addr: str = "127.0.0.1"):
        """Serve `/metrics` from a separate thread and port; returns (server, thread)."""
        from moneypath.instrument.exposition import start_metrics_server

        return start_metrics_server(self.registry, port, addr)

    # ------------------------------------------------------------ shared by the methods below

    def _observe(self, family: Family, values: tuple, seconds: float) -> None:
        if not 0.0 <= seconds < _INF:
            raise ValueError("observations must be finite and non-negative")
        child = family.child(values)
        if family.exemplars:
            ctx = get_current()
            if ctx:
                exemplar = trace_exemplar(ctx)
                if exemplar is not None:
                    child.observe(seconds, exemplar)
                    return
        child.observe(seconds)

    def _bind_authorization(self, values: tuple) -> tuple:
        pair = (self._auth_seconds.child(values), self._auth_total.child(values))
        # Only values the family cached (all declared): an unknown one is reported on every call.
        if values in self._auth_total._cache and len(self._auth_pairs) < families.RAW_CACHE_LIMIT:
            self._auth_pairs[values] = pair
        return pair

    # ------------------------------------------------------------ authorization

    def record_authorization(self, provider: str, method: str, outcome: str, seconds: float) -> None:
        """One authorization: latency into the histogram and one count, both by outcome."""
        try:
            if not 0.0 <= seconds < _INF:  # NaN, negative or infinite would poison _sum for good
                raise ValueError("latency must be a finite, non-negative number of seconds")
            values = (provider, method, outcome)
            pair = self._auth_pairs.get(values)
            if pair is None:
                pair = self._bind_authorization(values)
            if self._auth_exemplars:
                ctx = get_current()
                if ctx:
                    exemplar = trace_exemplar(ctx)
                    if exemplar is not None:
                        pair[0].observe(seconds, exemplar)
                        pair[1].inc()
                        return
            pair[0].observe(seconds)
            pair[1].inc()
        except Exception:
            self._failed("record_authorization")

    def time_authorization(self, provider: str, method: str) -> AuthorizationTimer:
        """Context manager timing an authorization; set `.outcome` before leaving.

        Leaving with an exception and no outcome records "timeout" for a timeout (the built-in
        TimeoutError, cancellation as `asyncio.timeout` ends the block, and the timeouts of requests,
        urllib3, httpx and aiohttp: moneypath.instrument._timeouts) and "error" otherwise; the
        exception always propagates.
        """
        return AuthorizationTimer(self, provider, method)

    # ------------------------------------------------------------ ledger

    def record_ledger_write(self, outcome: str, seconds: float) -> None:
        try:
            if not 0.0 <= seconds < _INF:
                raise ValueError("latency must be a finite, non-negative number of seconds")
            values = (outcome,)
            counter = self._ledger_total_cache.get(values)  # inlined family.child: the hot path
            if counter is None:
                counter = self._ledger_total.child(values)
            counter.inc()
            if self._ledger_exemplars:
                ctx = get_current()
                if ctx:
                    exemplar = trace_exemplar(ctx)
                    if exemplar is not None:
                        self._ledger_seconds.observe(seconds, exemplar)
                        return
            self._ledger_seconds.observe(seconds)
        except Exception:
            self._failed("record_ledger_write")

    def time_ledger_write(self) -> LedgerTimer:
        """Context manager: "committed" on success, "failed" on exception, or set `.outcome`
        (e.g. "conflict")."""
        return LedgerTimer(self)

    def set_ledger_imbalance(self, currency: str, minor_units: int) -> None:
        """Sum of postings in a currency (must be 0 under double entry)."""
        try:
            if not -_INF < minor_units < _INF:
                raise ValueError("imbalance must be a finite number of minor units")
            self._imbalance.child((currency,)).set(minor_units)
        except Exception:
            self._failed("set_ledger_imbalance")

    def set_audit_chain(self, broken: bool) -> None:
        """After each walk of the audit trail's hash chain: 1 while it is broken, 0 while it is intact."""
        try:
            self._audit_broken.set(1 if broken else 0)
        except Exception:
            self._failed("set_audit_chain")

    def count_shed(self, priority: str, count: int = 1) -> None:
        """A request refused at once because the service was past its capacity (admission control);
        `priority` is the catalog's class of the request, e.g. critical (money in motion) or normal. `count`
        refusals at once: a server that tallies its refusals and records them now and then (the hot path)."""
        try:
            if not 0 <= count < _INF:  # NaN or infinite would poison the counter for good
                raise ValueError("counters only go up by finite amounts")
            self._shed.child((priority,)).inc(count)
        except Exception:
            self._failed("count_shed")

    def set_audit_checkpoint(self, seq: int) -> None:
        """After each signed checkpoint of the audit trail: the seq it covers (a no-op when the catalog does not
        declare the signal). Kept by Prometheus, outside the database: a later chain shorter than the highest
        value it ever had was cut off."""
        if self._audit_checkpoint is None:
            return
        try:
            if not 0 <= seq < _INF:
                raise ValueError("a checkpoint's seq is a non-negative number")
            self._audit_checkpoint.set(seq)
        except Exception:
            self._failed("set_audit_checkpoint")

    def set_audit_head(self, seq: int) -> None:
        """In a service that signs checkpoints, after each check that found the audit trail intact: the seq of the
        head it verified, which its next checkpoint must cover (a no-op when the catalog does not declare the
        signal). The AuditCheckpointStale alert compares it with `set_audit_checkpoint`'s seq; a service without
        checkpoints does not call it, so both stay 0 and nothing fires."""
        if self._audit_head is None:
            return
        try:
            if not 0 <= seq < _INF:
                raise ValueError("a head's seq is a non-negative number")
            self._audit_head.set(seq)
        except Exception:
            self._failed("set_audit_head")

    # ------------------------------------------------------------ reconciliation

    def record_reconciliation(self, provider: str, oldest_unreconciled_seconds: float,
                              succeeded_at: float | None = None) -> None:
        """After a run: age of the oldest unmatched entry; `succeeded_at` (unix time) when it succeeded."""
        try:
            if not 0.0 <= oldest_unreconciled_seconds < _INF:
                raise ValueError("age must be finite and non-negative")
            self._recon_age.child((provider,)).set(oldest_unreconciled_seconds)
            if succeeded_at is not None:
                self._recon_success.child((provider,)).set(succeeded_at)
        except Exception:
            self._failed("record_reconciliation")

    def count_mismatch(self, provider: str, kind: str, n: int = 1) -> None:
        try:
            self._mismatches.child((provider, kind)).inc(n)
        except Exception:
            self._failed("count_mismatch")

    def count_duplicate_charge(self, provider: str, currency: str, amount_minor: int) -> None:
        try:
            self._duplicates.child((provider,)).inc()
            self._duplicate_minor.child((currency,)).inc(amount_minor)
        except Exception:
            self._failed("count_duplicate_charge")

    # ------------------------------------------------------------ queues

    def set_queue_depth(self, queue: str, depth: int) -> None:
        try:
            self._queue_depth.child((queue,)).set(depth)
        except Exception:
            self._failed("set_queue_depth")

    def count_dead_letter(self, queue: str, n: int = 1) -> None:
        try:
            self._dead_letters.child((queue,)).inc(n)
        except Exception:
            self._failed("count_dead_letter")

    # ------------------------------------------------------------ providers

    def record_provider_call(self, provider: str, operation: str, outcome: str, seconds: float) -> None:
        """One attempt against a provider (retries are separate attempts)."""
        try:
            self._provider_total.child((provider, operation, outcome)).inc()
            self._observe(self._provider_seconds, (provider, operation), seconds)
        except Exception:
            self._failed("record_provider_call")

    def count_provider_retry(self, provider: str, operation: str) -> None:
        try:
            self._provider_retries.child((provider, operation)).inc()
        except Exception:
            self._failed("count_provider_retry")

    def set_circuit_state(self, provider: str, state: str) -> None:
        """`state` is one of the catalog's enum names (closed, half_open, open)."""
        try:
            code = self._circuit_codes.get(state)
            if code is None:  # reported as any value outside the catalog; nothing to record
                self._unknown_value(self._circuit.signal, "state", state, tuple(self._circuit_codes), None)
                return
            self._circuit.child((provider,)).set(code)
        except Exception:
            self._failed("set_circuit_state")

    # ------------------------------------------------------------ payments

    def count_idempotent_replay(self, operation: str) -> None:
        try:
            self._replays.child((operation,)).inc()
        except Exception:
            self._failed("count_idempotent_replay")

    def count_webhook(self, provider: str, outcome: str) -> None:
        try:
            self._webhooks.child((provider, outcome)).inc()
        except Exception:
            self._failed("count_webhook")

    def count_card_number(self, source: str, action: str) -> None:
        """A card number found in input (never the number itself): `source` where it came from (api, webhook),
        `action` what was done (refused, redacted). Nothing while the catalog has no card_numbers_total."""
        if self._card_numbers is None:
            return
        try:
            self._card_numbers.child((source, action)).inc()
        except Exception:
            self._failed("count_card_number")

    def record_fraud_decision(self, decision: str, score: float | None = None) -> None:
        try:
            self._fraud.child((decision,)).inc()
            if score is not None:
                if not 0.0 <= score <= 1.0:
                    raise ValueError("fraud scores are between 0 and 1")
                self._fraud_score.observe(score)
        except Exception:
            self._failed("record_fraud_decision")

    def count_fraud_timeout(self, fallback: str) -> None:
        try:
            self._fraud_timeouts.child((fallback,)).inc()
        except Exception:
            self._failed("count_fraud_timeout")

    def add_cost(self, component: str, usd: float, provider: str = "none") -> None:
        """Money spent (USD); cost per transaction = rate(cost) / rate(authorizations)."""
        try:
            if not 0.0 <= usd < _INF:
                raise ValueError("cost must be a finite, non-negative amount")
            values = (component, provider)
            counter = self._cost_cache.get(values)  # inlined family.child: the hot path
            if counter is None:
                counter = self._cost.child(values)
            counter.inc(usd)
        except Exception:
            self._failed("add_cost")

    # ------------------------------------------------------------ any catalog signal

    # A key the catalog does not have is the caller's bug: counted as an instrumentation error.
    # A built-in key of a feature the catalog switches off is not: it is ignored, whatever the
    # value and labels, like that feature's methods.

    def count(self, key: str, amount: float = 1, /, **labels: str) -> None:
        """Increment any catalog counter by key, labels by name."""
        try:
            family = self.families.get(key)
            if family is None:
                if key in self._disabled_keys:
                    return
                raise KeyError(key)
            if not 0.0 <= amount < _INF:
                raise ValueError("counters only go up by finite amounts")
            family.child(family.values_from(labels)).inc(amount)
        except Exception:
            self._failed("count")

    def observe(self, key: str, value: float, /, **labels: str) -> None:
        """Observe into any catalog histogram by key."""
        try:
            family = self.families.get(key)
            if family is None:
                if key in self._disabled_keys:
                    return
                raise KeyError(key)
            self._observe(family, family.values_from(labels), value)
        except Exception:
            self._failed("observe")

    def set(self, key: str, value: float, /, **labels: str) -> None:
        """Set any catalog gauge by key."""
        try:
            family = self.families.get(key)
            if family is None:
                if key in self._disabled_keys:
                    return
                raise KeyError(key)
            if not -_INF < value < _INF:
                raise ValueError("gauges hold finite values")
            family.child(family.values_from(labels)).set(value)
        except Exception:
            self._failed("set")


def _disabled(*args: Any, **kwargs: Any) -> None:
    """A method of a feature the catalog switches off: takes anything, records nothing."""
