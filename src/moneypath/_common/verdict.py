"""Three results for every check the product runs: pass, fail, not measured; the types that carry them (`Outcome`,
`Check`, `Verdict`), the one JSON encoder for results (`jsonable`, `dumps`) and the exit code of each outcome.

A check whose data is absent (an empty Prometheus answer, a missing series, a query the catalog does not
declare, a step that did not run) is "not measured: <what returned nothing>", never a pass and never a zero.
Each check declares what a not-measured result does to its verdict (`if_not_measured`, an `IfNotMeasured`): it
fails it (the default) or it is skipped (shown as not measured, never as a pass). Skipped, or a test still waiting
for data, is a reason on a not-measured result, never a fourth outcome: a word such as "skip" or "inconclusive"
is made where a result is written out.

`CHECK_KINDS` is the registry: every kind of check registers its evaluator here (`register`), from its own
layer; tests/unit/_common/test_check_kinds.py walks each one with data, empty answers, its feature off and a
configuration that skips it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import PurePath
from typing import Any

from moneypath._common.exit_codes import ExitCode


class Outcome(StrEnum):
    """The only three results. A str: it compares equal to, prints and serialises as "pass", "fail", "not measured"."""

    PASS = "pass"
    FAIL = "fail"
    NOT_MEASURED = "not measured"

    @classmethod
    def of(cls, ok: bool | None | Outcome) -> Outcome:
        """pass, fail, or (None) not measured; an outcome is itself (a non-empty str: never read as a truth value)."""
        if isinstance(ok, Outcome):
            return ok
        return cls.NOT_MEASURED if ok is None else cls.PASS if ok else cls.FAIL


class IfNotMeasured(StrEnum):
    """What a not-measured result does to its verdict: fail it (leave it not measured), or be skipped (shown as
    not measured, never a pass). A str: the drill file's word and the JSON's, "fail" or "pass"."""

    FAIL = "fail"
    PASS = "pass"


PASS, FAIL, NOT_MEASURED = Outcome.PASS, Outcome.FAIL, Outcome.NOT_MEASURED
STATUSES = tuple(Outcome)
IF_NOT_MEASURED = tuple(IfNotMeasured)  # ("fail", "pass")

# Each outcome's exit code (moneypath._common.exit_codes).
EXIT_CODES = {PASS: ExitCode.PASS, FAIL: ExitCode.FAIL, NOT_MEASURED: ExitCode.NOT_MEASURED}


def not_measured(what: str) -> str:
    """The reason of a not-measured result: what returned nothing."""
    return what if what.startswith("not measured") else f"not measured: {what}"


def status_of(ok: bool | None) -> Outcome:
    """pass, fail, or (None) not measured."""
    return Outcome.of(ok)


def verdict(results: Iterable[tuple[str, IfNotMeasured]]) -> Outcome:
    """The verdict over (status, if_not_measured) pairs: fail if any failed; not measured if any not-measured
    result fails its verdict, or if none passed (every one skipped, or none at all: nothing is evidence); else
    pass (skipped not-measured results beside it are shown, not judged)."""
    results = list(results)
    if any(status == FAIL for status, _ in results):
        return FAIL
    if any(status == NOT_MEASURED and policy == IfNotMeasured.FAIL for status, policy in results):
        return NOT_MEASURED
    return PASS if any(status == PASS for status, _ in results) else NOT_MEASURED


@dataclass(frozen=True, kw_only=True)
class Check:
    """One judged check: its name, outcome, one line of why (what failed, or what returned nothing) and the figures
    it was judged on. A not-measured check's `why` always says "not measured": first ("not measured: <what
    returned nothing>", added when it does not say it), or where it reads ("captured once: not measured: ...")."""

    name: str
    outcome: Outcome
    why: str = ""
    figures: Mapping[str, Any] = field(default_factory=dict)
    if_not_measured: IfNotMeasured = IfNotMeasured.FAIL  # what a not-measured outcome does to the verdict

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))  # ValueError for any fourth word
        if type(self.if_not_measured) is not IfNotMeasured:
            if self.if_not_measured not in IF_NOT_MEASURED:
                raise ValueError(f"if_not_measured {self.if_not_measured!r}: expected one of "
                                 f"{', '.join(IF_NOT_MEASURED)}")
            object.__setattr__(self, "if_not_measured", IfNotMeasured(self.if_not_measured))
        if self.outcome is NOT_MEASURED and "not measured" not in self.why:
            object.__setattr__(self, "why", not_measured(self.why or "no data"))

    @classmethod
    def judged(cls, name: str, ok: bool | None, why: str = "", **figures: Any) -> Check:
        """A check from a comparison that is True, False or (None) could not be made."""
        return cls(name=name, outcome=Outcome.of(ok), why=why, figures=figures)

    @property
    def ok(self) -> bool:
        return self.outcome is PASS

    @property
    def breach(self) -> bool:
        """It fails its verdict, or leaves it not measured (a skipped not-measured check does neither)."""
        return self.outcome is FAIL or self.outcome is NOT_MEASURED and self.if_not_measured is IfNotMeasured.FAIL

    @property
    def skipped(self) -> bool:
        """Not measured, shown and not judged (its `if_not_measured` is pass)."""
        return self.outcome is NOT_MEASURED and self.if_not_measured is IfNotMeasured.PASS


@dataclass(frozen=True)
class Verdict:
    """The verdict over checks, aggregated here and nowhere else (see `verdict`)."""

    checks: tuple[Check, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple(self.checks))

    @property
    def outcome(self) -> Outcome:
        return verdict((c.outcome, c.if_not_measured) for c in self.checks)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def of(self, outcome: Outcome) -> list[Check]:
        return [c for c in self.checks if c.outcome is outcome]

    @property
    def breaches(self) -> list[Check]:
        """The checks that fail the verdict or leave it not measured, in order."""
        return [c for c in self.checks if c.breach]

    @property
    def skipped(self) -> list[Check]:
        """The not-measured checks shown and not judged, in order."""
        return [c for c in self.checks if c.skipped]


def jsonable(value: Any) -> Any:
    """A result as strict JSON: dataclasses as their fields (or their `as_json()`), enums as their values, NaN and
    infinities as None (a test's z is infinite when one arm has no variance), numpy scalars as Python's, paths as
    text, tuples and sets as lists. The one encoder for reports, state files and HTTP answers."""
    if hasattr(value, "as_json") and not isinstance(value, type):
        return jsonable(value.as_json())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k) if not isinstance(k, str) else k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "item"):  # a numpy scalar
        return jsonable(value.item())
    raise TypeError(f"{type(value).__name__} is not a result JSON can carry")


def dumps(value: Any, **kwargs: Any) -> str:
    """`json.dumps` of `jsonable(value)`, strict (no NaN)."""
    return json.dumps(jsonable(value), allow_nan=False, **kwargs)


def exit_code(verdicts: Iterable[str]) -> int:
    """0 when every verdict passed, 1 when one failed, 3 when none failed but one rests on what was not
    measured; no verdict at all is not measured."""
    verdicts = list(verdicts)
    if not verdicts:
        return ExitCode.NOT_MEASURED
    if FAIL in verdicts:
        return ExitCode.FAIL
    if NOT_MEASURED in verdicts:
        return ExitCode.NOT_MEASURED
    return ExitCode.PASS


@dataclass(frozen=True)
class CheckKind:
    name: str  # "<layer>.<kind>", e.g. "loadtest.gate.ledger_balanced"
    evaluate: Callable  # the function that judges it; the registry test walks it four ways
    if_not_measured: IfNotMeasured = IfNotMeasured.FAIL  # what a not-measured result does to the verdict by default


CHECK_KINDS: dict[str, CheckKind] = {}


def register(name: str, evaluate: Callable, if_not_measured: IfNotMeasured = IfNotMeasured.FAIL) -> Callable:
    """Register a kind of check (once); returns the evaluator, so it can decorate it."""
    if name in CHECK_KINDS and CHECK_KINDS[name].evaluate is not evaluate:
        raise ValueError(f"check kind {name} registered twice")
    CHECK_KINDS[name] = CheckKind(name, evaluate, if_not_measured)
    return evaluate
