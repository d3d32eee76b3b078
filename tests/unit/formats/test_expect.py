"""Expectations on query results (moneypath.formats.expect)."""

from __future__ import annotations

import math

import pytest

from moneypath.formats.expect import Expect, check, check_all

SERIES = [({"provider": "acme"}, 3.0), ({"provider": "globex"}, 0.0)]
ROWS = [{"provider": "acme", "kind": "duplicate", "amount_minor": 1200}, {"provider": "acme", "kind": "duplicate",
                                                                        "amount_minor": 800}]


@pytest.mark.parametrize("expect, items, ok", [
    ({"nonempty": True}, SERIES, True),
    ({"nonempty": True}, [], False),
    ({"nonempty": False}, [], True),
    ({"labels": {"provider": "acme"}, "min": 1}, SERIES, True),
    ({"labels": {"provider": "globex"}, "min": 1}, SERIES, False),
    ({"labels": {"provider": "globex"}, "max": 0}, SERIES, True),
    ({"labels": {"provider": "initech"}, "min": 0}, SERIES, None),  # nothing to judge: not measured
    ({"labels": {"provider": "initech"}, "max": 0}, SERIES, None),  # never a pass on nothing
    ({"below": 1}, [], None),  # an empty answer is not read as 0
    ({"above": 3}, SERIES, False),
    ({"below": 3.5}, SERIES, True),
    ({"below": 1}, [({}, math.nan)], False),  # NaN never satisfies a bound
    ({"rows_min": 2}, ROWS, True),
    ({"rows_min": 3}, ROWS, False),
    ({"rows_max": 1, "labels": {"kind": "duplicate"}}, ROWS, False),
    ({"column": "amount_minor", "min": 1000}, ROWS, True),
    ({"column": "amount_minor", "max": 1000}, ROWS, False),
    ({"labels": {"amount_minor": 800}, "rows_min": 1}, ROWS, True),  # values compare as text, YAML ints too
])
def test_expectations(expect, items, ok):
    got, reason = check(Expect.model_validate(expect), items)
    assert got is ok, reason
    assert reason


def test_check_all_reports_the_first_failure():
    ok, reason = check_all([Expect(labels={"provider": "acme"}, min=1), Expect(labels={"provider": "globex"}, min=1)],
                           SERIES)
    assert not ok and "provider=globex" in reason


def test_expectation_needs_a_condition():
    with pytest.raises(ValueError, match="give at least one of"):
        Expect.model_validate({"labels": {"a": "b"}})
