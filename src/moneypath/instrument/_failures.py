"""The instrumentation's failure path, as MoneyPath's base class: a failure inside a recording method is
counted in `<namespace>_instrumentation_errors_total` and swallowed (raised again in strict mode), and a label
value the catalog does not declare is counted and logged once (raised in strict mode)."""

from __future__ import annotations

import logging
from typing import Any

from moneypath.catalog import OTHER
from moneypath.catalog.pan import contains_card_number

log = logging.getLogger("moneypath.instrument")

# Distinct unknown (signal, label, value) triples logged per instance: hostile input cannot flood the log.
UNKNOWN_LOG_LIMIT = 256
_LOGGED_VALUE_CHARS = 40


class UnknownLabelValue(ValueError):
    """Strict mode: a label value the catalog does not declare."""


class Unmatched(ValueError):
    """Strict mode: an integration recorded as "other" a request or operation the catalog declares."""


class FailurePath:
    """What MoneyPath.__init__ sets: `strict`, the errors counter's child and metric name, the logged sets."""

    strict: bool
    _errors: Any
    _errors_name: str
    _logged_failures: set[str]
    _logged_unknown: set[tuple]
    _logged_unmatched: set[tuple]

    def _failed(self, where: str) -> None:
        """Called from an except block: count the failure (and raise it again in strict mode)."""
        if self.strict:
            raise  # the exception the caller's except block is handling
        try:
            self._errors.inc()
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
            self._errors.inc()
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
            self._errors.inc()
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
            self._errors.inc()
            if key not in self._logged_unmatched and len(self._logged_unmatched) < UNKNOWN_LOG_LIMIT:
                self._logged_unmatched.add(key)
                log.warning("%s (counted in %s; logged once)", message, self._errors_name)
        except Exception:  # noqa: BLE001 - the money path must never see a metrics failure
            pass


def _shown(value: Any) -> str:
    """A caller's label value as a log line may show it: shortened, and never a card number."""
    text = str(value)
    if contains_card_number(text):
        return "<a card number, not logged>"
    return repr(text[:_LOGGED_VALUE_CHARS] + ("..." if len(text) > _LOGGED_VALUE_CHARS else ""))
