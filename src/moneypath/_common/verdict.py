"""Three results for every check the product runs: pass, fail, not measured; and the CLI's exit codes.

A check whose data is absent (an empty Prometheus answer, a missing series, a query the catalog does not
declare, a step that did not run) is "not measured: <what returned nothing>", never a pass and never a zero.
Each check declares what a not-measured result does to its verdict (`if_not_measured`): it fails it (the
default) or it is skipped (shown as not measured, never as a pass).

`CHECK_KINDS` is the registry: every kind of check registers its evaluator here (`register`), from its own
layer; tests/unit/_common/test_check_kinds.py walks each one with data, empty answers, its feature off and a
configuration that skips it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

PASS, FAIL, NOT_MEASURED = "pass", "fail", "not measured"
STATUSES = (PASS, FAIL, NOT_MEASURED)
IF_NOT_MEASURED = ("fail", "pass")  # a not-measured result fails the verdict, or is skipped (never a pass)

# The CLI's exit codes (docs/cli/index.md).
EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_NOT_MEASURED = 0, 1, 2, 3
EXIT_CODES = {PASS: EXIT_PASS, FAIL: EXIT_FAIL, NOT_MEASURED: EXIT_NOT_MEASURED}


def not_measured(what: str) -> str:
    """The reason of a not-measured result: what returned nothing."""
    return what if what.startswith("not measured") else f"not measured: {what}"


def status_of(ok: bool | None) -> str:
    """pass, fail, or (None) not measured."""
    return NOT_MEASURED if ok is None else PASS if ok else FAIL


def verdict(results: Iterable[tuple[str, str]]) -> str:
    """The verdict over (status, if_not_measured) pairs: fail if any failed; not measured if any not-measured
    result fails its verdict, or if none passed (every one skipped, or none at all: nothing is evidence); else
    pass (skipped not-measured results beside it are shown, not judged)."""
    results = list(results)
    if any(status == FAIL for status, _ in results):
        return FAIL
    if any(status == NOT_MEASURED and policy == "fail" for status, policy in results):
        return NOT_MEASURED
    return PASS if any(status == PASS for status, _ in results) else NOT_MEASURED


def exit_code(verdicts: Iterable[str]) -> int:
    """0 when every verdict passed, 1 when one failed, 3 when none failed but one rests on what was not
    measured; no verdict at all is not measured."""
    verdicts = list(verdicts)
    if not verdicts:
        return EXIT_NOT_MEASURED
    if FAIL in verdicts:
        return EXIT_FAIL
    if NOT_MEASURED in verdicts:
        return EXIT_NOT_MEASURED
    return EXIT_PASS


@dataclass(frozen=True)
class CheckKind:
    name: str  # "<layer>.<kind>", e.g. "loadtest.gate.ledger_balanced"
    evaluate: Callable  # the function that judges it; the registry test walks it four ways
    if_not_measured: str = "fail"  # what a not-measured result does to the verdict by default


CHECK_KINDS: dict[str, CheckKind] = {}


def register(name: str, evaluate: Callable, if_not_measured: str = "fail") -> Callable:
    """Register a kind of check (once); returns the evaluator, so it can decorate it."""
    if name in CHECK_KINDS and CHECK_KINDS[name].evaluate is not evaluate:
        raise ValueError(f"check kind {name} registered twice")
    CHECK_KINDS[name] = CheckKind(name, evaluate, if_not_measured)
    return evaluate
