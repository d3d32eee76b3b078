"""Locust's statistics files -> the figures the gates and the report use (moneypath.loadtest.command.stats)."""

from __future__ import annotations

from moneypath.formats import scenarios
from moneypath.loadtest.command import stats
from moneypath.loadtest.in_locust import request_names
from tests.support.locust_stats import entry

# ---------------------------------------------------------------- Locust statistics


def test_percentile_is_computed_as_locust_does():
    times = {"10": 90, "20": 9, "500": 1}  # Locust: the smallest value that all but int(n * (1 - q)) are within
    assert stats.percentile(times, 0.5) == 10
    assert stats.percentile(times, 0.95) == 20
    assert stats.percentile(times, 0.98) == 20
    assert stats.percentile(times, 0.99) == 500
    assert stats.percentile(times, 1.0) == 500
    assert stats.percentile({}, 0.99) is None


def test_summary_judges_final_outcomes_and_the_judged_provider():
    entries = [
        entry("authorize [acme]", times={"100": 98, "250": 2}),
        entry("authorize [globex]", times={"2000": 10}, failures=10),
        entry("capture [acme]", times={"50": 50}),
        entry("authorize [acme] (attempt)", times={"100": 30}, failures=20),
        entry("authorize [acme]", method=request_names.RETRIED, times={"400": 10}, failures=1),
        entry(request_names.DUPLICATE_CHECK, method=request_names.CHECK, times={"5": 10}),
    ]
    s = stats.summarize(entries, duration_s=10)
    assert s.http_requests == 100 + 10 + 50 + 30
    assert s.rps == 19.0
    assert s.judged_requests == 100 + 10 + 50 + 10 and s.judged_failures == 11
    assert s.authorize_p99_ms == 2000  # globex is in
    assert s.duplicate_checks == 10 and s.duplicates_seen == 0
    acme = stats.summarize(entries, judge_provider="acme", duration_s=10)
    assert acme.authorize_p99_ms == 250 and acme.judged_failures == 1
    assert acme.authorizations == 110


def test_summary_counts_completed_keys_and_unanswered_replays():
    entries = [entry("authorize [acme]", method=request_names.RETRIED, times={"400": 12}, failures=2),
               entry("capture [acme]", method=request_names.RETRIED, times={"300": 5}),
               entry(request_names.DUPLICATE_CHECK, method=request_names.CHECK, times={"5": 12}),
               entry(request_names.REPLAY_UNANSWERED, method=request_names.CHECK, times={"900": 3}, failures=3)]
    s = stats.summarize(entries, duration_s=10)
    assert (s.keys_completed, s.duplicate_checks, s.replays_unanswered) == (15, 12, 3)
    assert s.judged_requests == 17  # checks are not requests
    assert not hasattr(s, "to_dict") and not hasattr(scenarios, "expected_rate")


def test_history_reads_the_aggregated_rows(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,95%,99%,Total Request Count,"
                    "Total Failure Count\n"
                    "100,0,,Aggregated,0,0,N/A,N/A,N/A,0,0\n"
                    "101,5,POST,authorize [acme],3,0,10,20,30,3,0\n"
                    "101,5,,Aggregated,4.5,0.5,12,40,90,9,1\n")
    ticks = stats.history(path)
    assert [t.users for t in ticks] == [0, 5]
    assert ticks[1].p99_ms == 90 and ticks[0].p99_ms is None and ticks[1].failures == 1
    assert stats.history(tmp_path / "missing.csv") == []


def test_refusals_are_the_503_and_429_answers_locust_recorded(tmp_path):
    path = tmp_path / "locust_failures.csv"
    path.write_text("Method,Name,Error,Occurrences\n"
                    "POST,authorize [acme],CatchResponseError('503 ledger-unavailable'),120\n"
                    "POST,authorize [acme] (attempt),CatchResponseError('429 too-many-requests'),30\n"
                    "GET,/healthz,\"HTTPError('503 Server Error: Service Unavailable for url: /healthz')\",10\n"
                    "POST,capture [acme],CatchResponseError('502 provider-error'),40\n"
                    "POST,capture [acme],CatchResponseError('no answer: ConnectionRefusedError'),7\n"
                    "POST,refund [acme],CatchResponseError('422 amount-5030'),5\n"
                    "RETRIED,authorize [acme],503 after 3 attempts,9\n")  # a final outcome, not an answer
    assert stats.refused_per_s(path, 10) == 16.0
    assert stats.refused_per_s(tmp_path / "missing.csv", 10) == 0.0
