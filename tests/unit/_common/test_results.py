"""The result family: three outcomes and no fourth, a check's why, the verdict in one place, one JSON encoder."""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from moneypath._common.exit_codes import ExitCode
from moneypath._common.verdict import (
    FAIL,
    NOT_MEASURED,
    PASS,
    Check,
    Outcome,
    Verdict,
    dumps,
    jsonable,
)


def test_an_outcome_is_one_of_three_words():
    assert [str(o) for o in Outcome] == ["pass", "fail", "not measured"]
    assert Outcome("not measured") is NOT_MEASURED and PASS == "pass"
    with pytest.raises(ValueError):
        Check(name="x", outcome="skip")


def test_an_outcome_read_as_ok_is_itself_never_a_truthy_pass():
    assert [Outcome.of(o) for o in (FAIL, NOT_MEASURED, PASS)] == [FAIL, NOT_MEASURED, PASS]
    assert [Outcome.of(ok) for ok in (True, False, None)] == [PASS, FAIL, NOT_MEASURED]


def test_a_not_measured_check_says_why_and_never_passes():
    check = Check.judged("ledger", None, "the query returned nothing")
    assert check.why == "not measured: the query returned nothing" and not check.ok
    assert Check.judged("ledger", None).why == "not measured: no data"
    assert Check.judged("ledger", True).ok and not Check.judged("ledger", False).ok


@pytest.mark.parametrize(("outcomes", "policy", "expected", "code"), [
    ((PASS, PASS), "fail", PASS, ExitCode.PASS),
    ((PASS, FAIL), "fail", FAIL, ExitCode.FAIL),
    ((PASS, NOT_MEASURED), "fail", NOT_MEASURED, ExitCode.NOT_MEASURED),
    ((PASS, NOT_MEASURED), "pass", PASS, ExitCode.PASS),  # skipped beside a pass: shown, not judged
    ((NOT_MEASURED,), "pass", NOT_MEASURED, ExitCode.NOT_MEASURED),  # nothing passed: nothing is evidence
    ((), "fail", NOT_MEASURED, ExitCode.NOT_MEASURED),
])
def test_the_verdict_is_aggregated_in_one_place(outcomes, policy, expected, code):
    checks = [Check(name=f"c{i}", outcome=o, if_not_measured=policy) for i, o in enumerate(outcomes)]
    result = Verdict(checks)
    assert result.outcome is expected and result.exit_code == code
    assert result.of(NOT_MEASURED) == [c for c in checks if c.outcome is NOT_MEASURED]


def test_the_verdict_names_its_breaches_and_what_it_skipped():
    failed, passed = Check.judged("p99", False, "p99 over"), Check.judged("ledger", True)
    missing = Check.judged("duplicates", None, "no counter")
    skipped = Check(name="circuit", outcome=NOT_MEASURED, why="none expected", if_not_measured="pass")
    result = Verdict([failed, passed, missing, skipped])
    assert result.breaches == [failed, missing] and [c.breach for c in result.checks] == [True, False, True, False]
    assert result.skipped == [skipped] and not missing.skipped and not failed.skipped


def test_one_encoder_makes_results_strict_json():
    @dataclass
    class Row:
        z: float
        where: Path

    check = Check.judged("latency", False, "p99 over", p99_s=float("inf"), rows=(Row(math.nan, Path("/r")),))
    text = dumps(Verdict([check]))
    assert json.loads(text) == {"checks": [{
        "name": "latency", "outcome": "fail", "why": "p99 over", "if_not_measured": "fail",
        "figures": {"p99_s": None, "rows": [{"z": None, "where": "/r"}]}}]}
    with pytest.raises(TypeError):
        jsonable(object())
