"""The instrumentation's failure path, as MoneyPath's base class: a failure inside a recording method is
counted in `<namespace>_instrumentation_errors_total` and swallowed (raised again in strict mode), and a label
value the catalog does not declare is counted and logged once (raised in strict mode). Each is counted under its
reason (catalog.conventions.ErrorReason) when the catalog declares the counter's `reason` label."""

from __future__ import annotations

import logging
from typing import Any

from moneypath.catalog import OTHER
from moneypath.catalog.conventions import ERROR_REASON_LABEL, ERROR_REASONS, ErrorReason, Key
from moneypath.catalog.pan import contains_card_number

log = logging.getLogger("moneypath.instrument")

# Distinct unknown (signal, label, value) triples logged per instance: hostile input cannot flood the log.
UNKNOWN_LOG_LIMIT = 256
_LOGGED_VALUE_CHARS = 40


def error_children(family) -> dict[str, Any]:
    """The errors counter's child for each reason: one per reason when the catalog declares the `reason` label,
    else the one unlabelled child (a catalog written before the label)."""
    if ERROR_REASON_LABEL in family.signal.label_names:
        return {reason: family.child((reason,)) for reason in ERROR_REASONS}
    child = family.child(())
    return dict.fromkeys(ERROR_REASONS, child)


class UnknownLabelValue(ValueError):
    """Strict mode: a label value the catalog does not declare."""


class Unmatched(ValueError):
    """Strict mode: an integration recorded as "other" a request or operation the catalog declares."""


class FailurePath:
    """What MoneyPath.__init__ sets: `strict`, the errors counter's child and metric name, the logged sets."""

    strict: bool
    _errors: dict[str, Any]
    _errors_name: str
    _logged_failures: set[str]
    _logged_unknown: set[tuple]
    _logged_unmatched: set[tuple]
    _undeclared_routes: set[str]
    catalog: Any

    def _failed(self, where: str) -> None:
        """Called from an except block: count the failure (and raise it again in strict mode)."""
        if self.strict:
            raise  # the exception the caller's except block is handling
        try:
            self._errors[ErrorReason.FAILURE].inc()
            if where not in self._logged_failures and len(self._logged_failures) < 64:
                self._logged_failures.add(where)
                # Neither the exception nor its message: either could carry a caller's label value.
                log.warning("instrumentation failure in %s (counted, swallowed; logged once)", where)
        except Exception:  # noqa: BLE001 - the money path must never see a metrics failure
            pass

    def _unknown_value(self, signal, label: str, value: Any, declared: tuple[str, ...] | None = None,
                       recorded_as: str | None = OTHER) -> None:
        """A value outside the catalog, about to be recorded as "other" (families.Family.on_unknown), or, for an
        enum state (`declared` its names, `recorded_as` None), not recorded at all."""
        allowed = ", ".join(declared if declared is not None else signal.labels[label])
        if self.strict:
            raise UnknownLabelValue(f"{signal.name}: {label}={_shown(value)} is not a value the catalog declares "
                                    f"({allowed})")
        try:
            self._errors[ErrorReason.UNKNOWN_VALUE].inc()
            key = (signal.key, label, value)
            if key not in self._logged_unknown and len(self._logged_unknown) < UNKNOWN_LOG_LIMIT:
                self._logged_unknown.add(key)
                log.warning("%s: %s=%s is not a value the catalog declares (%s): %s and counted in %s (logged once)",
                            signal.name, label, _shown(value), allowed,
                            f"recorded as {recorded_as}" if recorded_as else "not recorded", self._errors_name)
        except Exception:  # noqa: BLE001 - the money path must never see a metrics failure
            pass

    def _several_processes(self, what: str = "several processes serve this port") -> None:
        """This process serves /metrics on a port a sibling worker shares (moneypath.instrument.exposition), or an
        integration found several gunicorn workers at start (`what` says which), without a multi-process directory:
        counted and logged once per instance, never raised (a scrape, an app's start)."""
        if getattr(self, "_several_reported", False):
            return
        try:
            self._several_reported = True
            self._errors[ErrorReason.SEVERAL_PROCESSES].inc()
            log.warning("%s, each with counters of its own, and PROMETHEUS_MULTIPROC_DIR "
                        "is not set: each scrape reads one of them and the counters go backwards, so every rate is "
                        "wrong. Set PROMETHEUS_MULTIPROC_DIR before the workers start (docs/instrumenting.md). Counted "
                        "in %s (logged once)", what, self._errors_name)
        except Exception:  # noqa: BLE001 - the money path must never see a metrics failure
            pass

    def _unmatched(self, key: tuple, message: str) -> None:
        """A framework integration records as "other" what the catalog declares (moneypath.instrument._web_signals):
        counted each time, logged once per `key` (raised in strict mode). `message` names no raw path."""
        if self.strict:
            raise Unmatched(message)
        try:
            self._errors[ErrorReason.UNMATCHED].inc()
            if key not in self._logged_unmatched and len(self._logged_unmatched) < UNKNOWN_LOG_LIMIT:
                self._logged_unmatched.add(key)
                log.warning("%s (counted in %s; logged once)", message, self._errors_name)
        except Exception:  # noqa: BLE001 - the money path must never see a metrics failure
            pass


    def _undeclared_route(self, route: str) -> None:
        """The framework matched `route`, a template the catalog does not declare (nor any template the path fits):
        recorded as "other", counted once and logged once with the catalog key to declare it under (raised in
        strict mode). The caller checks `_undeclared_routes` first, so each route costs a set lookup after that."""
        key = f"signals.{Key.HTTP_REQUESTS_TOTAL}.labels.route"
        shown = _shown(route)
        message = (f"route {shown} is served but the catalog does not declare it: add it to {key} in "
                   f"{self.catalog.path} (http_request_duration_seconds shares the list); recorded as other")
        if self.strict:
            raise Unmatched(message)
        try:
            if len(self._undeclared_routes) >= UNKNOWN_LOG_LIMIT:  # hostile route names: counted, no longer logged
                self._errors[ErrorReason.UNDECLARED_ROUTE].inc()
                return
            self._undeclared_routes.add(route)
            self._errors[ErrorReason.UNDECLARED_ROUTE].inc()
            log.warning("%s (counted in %s; logged once)", message, self._errors_name,
                        extra={"route": shown[1:-1] if shown.startswith("'") else shown, "catalog_key": key,
                               "reason": ErrorReason.UNDECLARED_ROUTE})
        except Exception:  # noqa: BLE001 - the money path must never see a metrics failure
            pass


def _shown(value: Any) -> str:
    """A caller's label value as a log line may show it: shortened, and never a card number."""
    text = str(value)
    if contains_card_number(text):
        return "<a card number, not logged>"
    return repr(text[:_LOGGED_VALUE_CHARS] + ("..." if len(text) > _LOGGED_VALUE_CHARS else ""))
