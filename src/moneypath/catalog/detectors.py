"""Detectors: jobs that run on their own schedule and whose healthy output is 0 — a scan for duplicate charges,
reconciliation against the providers' settlements, the ledger's balance, the walk of the audit chain.

A counter the library creates at 0 reads 0 whether its detector found nothing or never ran. So a detector reports
each completed run on one heartbeat, the gauge `<namespace>_detector_last_run_timestamp_seconds{detector="<name>"}`
(`Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS`; its `detector` label's values are the catalog's detectors), and a check
reads a zero from a detector's signal only when that heartbeat advanced within the check's window
(moneypath.check.detector_runs).

Which detector a signal comes from: the signal's own `detector:` in the catalog, else the built-in default below. A
detector belongs to the feature of its signals: with the feature off it exists nowhere (no label value, no check).
"""

from __future__ import annotations

from dataclasses import dataclass

from moneypath.catalog.conventions import DETECTOR_LABEL, Detector, Key


@dataclass(frozen=True)
class DetectorDefault:
    title: str                 # how a line names it: "the duplicate detector"
    signals: tuple[str, ...]   # built-in signal keys whose zero rests on its runs
    feature: str | None = None  # the optional domain it belongs to (None: the core)


BUILTIN_DETECTORS: dict[str, DetectorDefault] = {
    Detector.DUPLICATES: DetectorDefault("the duplicate detector",
                                         (Key.DUPLICATE_CHARGES_TOTAL, Key.DUPLICATE_CHARGED_MINOR_TOTAL)),
    Detector.RECONCILIATION: DetectorDefault("the reconciliation", (Key.RECONCILIATION_MISMATCHES_TOTAL,
                                                                    Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS),
                                             "reconciliation"),
    Detector.LEDGER_BALANCE: DetectorDefault("the ledger balance check", (Key.LEDGER_IMBALANCE_MINOR,), "ledger"),
    Detector.AUDIT_CHAIN: DetectorDefault("the audit chain's walk", (Key.AUDIT_CHAIN_BROKEN,), "audit"),
}
DEFAULT_DETECTED_BY: dict[str, str] = {sig: name for name, d in BUILTIN_DETECTORS.items() for sig in d.signals}


def detector_of(catalog, key: str) -> str | None:
    """The detector a signal's zero rests on (its `detector:`, else the built-in default), None for a signal
    recorded on the request path (its zero is counted as it happens)."""
    sig = catalog.signals.get(key)
    declared = getattr(sig, "detector", None) if sig is not None else None
    return declared or DEFAULT_DETECTED_BY.get(key)


def title(name: str) -> str:
    """How a line names a detector."""
    known = BUILTIN_DETECTORS.get(name)
    return known.title if known is not None else f"the {name.replace('_', ' ')} detector"


def heartbeat(catalog) -> str | None:
    """The heartbeat's metric name, None while the catalog does not declare it."""
    key = Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS
    return catalog.metric(key) if key in catalog.signals else None


def declared(catalog) -> tuple[str, ...]:
    """The detectors the heartbeat's `detector` label declares (none without the heartbeat)."""
    sig = catalog.signals.get(Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS)
    return tuple(sig.labels.get(DETECTOR_LABEL, ())) if sig is not None else ()


def detector_problems(catalog) -> list[tuple[tuple, str]]:
    """The heartbeat's shape, and every signal's detector among the heartbeat's values (after label expansion)."""
    key = Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS
    sig = catalog.signals.get(key)
    out: list[tuple[tuple, str]] = []
    if sig is not None and (sig.type != "gauge" or tuple(sig.labels) != (DETECTOR_LABEL,)):
        out.append((("signals", key), f"a detector's heartbeat is a gauge with the one label {DETECTOR_LABEL} "
                                      "(the detectors' names)"))
        return out
    names = set(declared(catalog))
    for skey, s in catalog.signals.items():
        name = getattr(s, "detector", None)
        if name is None or name in names:
            continue
        where = (f"not among signals.{key}'s {DETECTOR_LABEL} values ({', '.join(sorted(names))})" if sig is not None
                 else f"declare signals.{key} with the label {DETECTOR_LABEL}: [{name}]")
        out.append((("signals", skey, "detector"), f"{name!r}: {where}"))
    return out
