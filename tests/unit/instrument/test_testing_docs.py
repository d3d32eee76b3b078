"""docs/instrumenting.md's "In your tests": a team's test, run as the page shows it on the Django shop's catalog
(tests/foreign/djangoshop), passing on a capture recorded as the page says and failing, with the message the page
shows, on one that timed out."""

from __future__ import annotations

import pytest

from moneypath.instrument import MoneyPath
from tests.conftest import ROOT
from tests.docs_examples import code_block

PAGE = "docs/instrumenting.md"
IMPORT = "from shop.payments import capture  # the team's code under test\n"


def team_test(capture_outcome: str):
    """The page's test function, with the team's `capture` a call recorded with this outcome."""
    mp = MoneyPath.from_catalog(ROOT / "tests" / "foreign" / "djangoshop" / "ops" / "moneypath.yaml")
    text = code_block(PAGE, "In your tests")
    assert IMPORT in text
    namespace = {"capture": lambda payment_id: mp.record_provider_call("paystack", "capture", capture_outcome, 0.2)}
    exec(text.replace(IMPORT, ""), namespace)
    return lambda: namespace["test_a_capture_is_one_provider_call"](mp)


def test_the_testing_example_runs_as_written():
    team_test("success")()


def test_the_failure_the_page_shows_is_what_a_timed_out_capture_reads():
    with pytest.raises(AssertionError) as failed:
        team_test("timeout")()
    shown = code_block(PAGE, "In your tests", lang="text")
    assert f"AssertionError: {failed.value}\n" == shown
