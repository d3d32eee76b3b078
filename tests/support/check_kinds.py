"""The four ways tests/unit/_common/test_check_kinds.py walks every registered kind of check (CHECK_KINDS), and
what the cases return: a list of statuses, read the same way whatever the kind returns.

Each case is a function of (kind, catalog); a way a kind cannot be walked is a sentence saying why, starting
with NO_FEATURE or NO_SKIP (or NO_FAIL for a kind that never fails), so that the table says it explicitly."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import moneypath
from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Check, Verdict

SKIP = "skip"  # result.json's word for a skipped gate; no case returns it (a skipped gate is its not-measured Check)
ABSENT = "absent"  # the feature's check exists nowhere: not asked, not shown as a pass
NO_FEATURE, NO_SKIP, NO_FAIL = "no feature: ", "no skip configuration: ", "no fail: "

REGISTERS = re.compile(r"^from moneypath\._common\.verdict import [^\n]*\bregister\b", re.M)

Case = Callable[..., list]


@dataclass(frozen=True)
class Ways:
    passes: Case               # (a) a real, plausible input that passes: the other cases are not vacuous
    fails: Case | str          # (a) an input that fails, or NO_FAIL and why the kind has no fail
    empty: Case                # (b) empty answers: not measured
    feature_off: Case | str    # (c) the catalog feature it depends on off, or NO_FEATURE and why it has none
    skipped: Case | str        # (d) a configuration that skips it, or NO_SKIP and why there is none


def import_everything() -> None:
    """Each kind registers itself from its own module: import every module that imports `register` (found by
    reading the files: importing every package would start processes and patch this one with Locust's gevent)."""
    src = Path(moneypath.__file__).parent
    for path in sorted(src.rglob("*.py")):
        if REGISTERS.search(path.read_text()):
            importlib.import_module(".".join(("moneypath", *path.relative_to(src).with_suffix("").parts)))


def status(result) -> str:
    """One result as a status: a Check's or a Verdict's outcome; (ok or outcome, reason) as formats.expect, a halt
    condition, drills.checks and a canary release return it (None is not measured); or an Outcome (or ABSENT)."""
    if isinstance(result, Check | Verdict):
        return result.outcome
    if isinstance(result, tuple):
        result = result[0]
    if result is None:
        return NOT_MEASURED
    if result is True:
        return PASS
    if result is False:
        return FAIL
    return result


def run(case: Case, kind, catalog) -> list[str]:
    args = case.__code__.co_varnames[:case.__code__.co_argcount]
    out = case(kind, catalog) if "catalog" in args else case(kind)
    return [status(s) for s in out]
