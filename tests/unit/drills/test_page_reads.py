"""A page missed is not a page not sent: the page source counts its reads, and "no unexpected pages" (and a
"detected" that would fail) is not measured when a read failed or none was made (moneypath.drills.endpoints.Pages)."""

from __future__ import annotations

import httpx
import pytest

from moneypath.drills.endpoints import Pages, TargetError
from moneypath.drills.journal import AlertRow


def _pages(answers: list[int]) -> Pages:
    """A pager at 127.0.0.1:9 answering each read with the next status (200: no page yet)."""
    pages = Pages("http://127.0.0.1:9", None)
    pages.client.close()
    statuses = iter(answers)

    def handler(request):
        status = next(statuses)
        if status == 0:
            raise httpx.ConnectError("All connection attempts failed", request=request)
        return httpx.Response(status, json=[])

    pages.client = httpx.Client(transport=httpx.MockTransport(handler))
    return pages


def _read(pages: Pages, n: int) -> None:
    for _ in range(n):
        try:
            pages.records(1000.0)
        except TargetError:
            pass


def test_every_read_answered_is_measured():
    pages = _pages([200, 200, 200])
    _read(pages, 3)
    assert pages.unread() is None


def test_a_read_that_failed_is_named_with_the_count_and_the_address():
    pages = _pages([0, 0, 200, 503])
    _read(pages, 4)
    assert pages.unread().startswith("the pager at 127.0.0.1:9 did not answer 3 of 4 reads (last: HTTPStatusError")


def test_a_pager_read_after_failed_ones_covers_them():
    """The pager answers with every page so far: the failures before a read that answered hid nothing."""
    pages = _pages([0, 503, 200])
    _read(pages, 3)
    assert pages.unread() is None


def test_alertmanager_failed_read_is_never_covered():
    """Alertmanager shows only what fires now: a page that fired and resolved during a failed read is lost."""
    pages = Pages(None, "http://127.0.0.1:9093")
    pages.client.close()
    statuses = iter([0, 200])

    def handler(request):
        if next(statuses) == 0:
            raise httpx.ConnectError("All connection attempts failed", request=request)
        return httpx.Response(200, json=[])

    pages.client = httpx.Client(transport=httpx.MockTransport(handler))
    _read(pages, 2)
    assert pages.unread().startswith("Alertmanager at 127.0.0.1:9093 did not answer 1 of 2 reads")


def test_a_source_never_read_or_missing_is_not_measured():
    assert _pages([]).unread() == "the pager at 127.0.0.1:9 was never read"
    assert Pages(None, "http://127.0.0.1:9093/").unread() == "Alertmanager at 127.0.0.1:9093 was never read"
    assert Pages(None, None).unread().startswith("no page source")


def _judged(live, pages: Pages, rows: list[AlertRow]) -> dict:
    live.pages_source = pages
    live.objectives.clear()
    live._judge_pages(rows, 1000.0)
    return {o.name: o for o in live.objectives}


def _row(expectation: str, ok: bool, alert: str = "MoneyPathDuplicateChargeDetected") -> AlertRow:
    return AlertRow(alert=alert, labels={}, expectation=expectation, deadline_s=30 if expectation == "expected" else None,
                    first_firing_at=None, paged_at=None, resolved_at=None, receivers=[], ok=ok,
                    reason="paged" if ok else "never fired")


@pytest.mark.parametrize("expected_ok", [True, False])
def test_nothing_paged_on_a_pager_that_did_not_answer_is_not_measured(live, expected_ok):
    pages = _pages([0] * 40)
    _read(pages, 40)
    got = _judged(live, pages, [_row("expected", expected_ok)])
    quiet = got["no_unexpected_pages"]
    assert quiet.status == "not measured"
    assert quiet.reason.startswith("not measured: the pager at 127.0.0.1:9 did not answer 40 of 40 reads (last: "
                                   "ConnectError"), quiet.reason
    # a page that arrived is a page: "detected" passes on it; one that did not come may have been missed
    assert got["detected"].status == ("pass" if expected_ok else "not measured"), got["detected"].reason


def test_an_unexpected_page_seen_still_fails_and_a_pager_that_answered_passes(live):
    pages = _pages([0, 200])
    _read(pages, 2)
    got = _judged(live, pages, [_row("expected", True), _row("must_not_page", False, "MoneyPathLedgerImbalance")])
    assert got["no_unexpected_pages"].status == "fail"
    pages = _pages([200])
    _read(pages, 1)
    got = _judged(live, pages, [_row("expected", True)])
    assert got["no_unexpected_pages"].status == "pass", got["no_unexpected_pages"].reason
