"""DORA's reporting clocks (moneypath.check.report_clocks): the deadlines' arithmetic (RTS 2025/301 Art. 5), what is
exported while a report is due, and one line for bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from moneypath.catalog.business_services import Clocks
from moneypath.check import report_clocks as rc

H = 3600.0
C = Clocks()


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def incident(aware: str, classified: str | None = None, **reports) -> dict:
    data = {"incidents": {}}
    rc.start(data, "INC-7", ts(aware), ts(classified) if classified else None)
    entry = data["incidents"]["INC-7"]
    for kind in ("initial", "intermediate", "final"):
        for at in ([reports[kind]] if isinstance(reports.get(kind), str) else reports.get(kind) or []):
            rc.submit(data, "INC-7", kind, ts(at))
    return entry


def due(entry: dict, clocks: Clocks = C) -> dict[str, str | None]:
    return {k: (rc.rfc3339(t) if t else None) for k, (t, _) in rc.deadlines(entry, clocks).items()}


def test_initial_is_four_hours_after_classification():
    assert due(incident("2026-03-02T09:00:00", "2026-03-02T10:30:00"))["initial"] == "2026-03-02T14:30:00Z"


def test_initial_is_never_later_than_a_day_after_awareness():
    # classified 21 h after awareness: 4 h later would be 25 h; the 24 h bound wins
    assert due(incident("2026-03-02T09:00:00", "2026-03-03T06:00:00"))["initial"] == "2026-03-03T09:00:00Z"


def test_a_classification_later_than_a_day_gets_its_own_four_hours():
    assert due(incident("2026-03-02T09:00:00", "2026-03-04T12:00:00"))["initial"] == "2026-03-04T16:00:00Z"


def test_not_classified_no_deadline_yet():
    assert due(incident("2026-03-02T09:00:00")) == {"initial": None, "intermediate": None, "final": None}


def test_intermediate_counts_72_hours_from_the_initial_submission_and_final_a_calendar_month():
    entry = incident("2026-01-28T08:00:00", "2026-01-28T09:00:00", initial="2026-01-28T12:00:00",
                     intermediate=["2026-01-30T10:00:00", "2026-01-31T10:00:00"])
    d = due(entry)
    assert d["intermediate"] == "2026-01-31T12:00:00Z"
    assert d["final"] == "2026-02-28T10:00:00Z"  # a month after 31 January: the last day of February
    assert rc.add_month(ts("2026-12-15T00:00:00")) == ts("2027-01-15T00:00:00")
    assert rc.add_month(ts("2028-01-31T07:00:00")) == ts("2028-02-29T07:00:00")  # a leap year


def test_clocks_come_from_the_catalog():
    short = Clocks(initial_after_classification="30s", intermediate_after_initial="1m", final_after_intermediate="2m")
    entry = incident("2026-03-02T09:00:00", "2026-03-02T09:00:10", initial="2026-03-02T09:00:20",
                     intermediate="2026-03-02T09:00:40")
    assert due(entry, short) == {"initial": "2026-03-02T09:00:40Z", "intermediate": "2026-03-02T09:01:20Z",
                                 "final": "2026-03-02T09:02:40Z"}


def test_only_due_unsubmitted_reports_of_open_incidents_are_pending_and_exported(foreign):
    data = {"incidents": {}}
    rc.start(data, "INC-1", ts("2026-03-02T09:00:00"), ts("2026-03-02T10:00:00"))
    rc.start(data, "INC-2", ts("2026-03-02T09:00:00"), None)
    assert rc.pending(data["incidents"]["INC-1"], C) == {"initial": ts("2026-03-02T14:00:00")}
    rc.submit(data, "INC-1", "initial", ts("2026-03-02T11:00:00"))
    assert rc.pending(data["incidents"]["INC-1"], C) == {"intermediate": ts("2026-03-05T11:00:00")}
    text = rc.exposition(foreign, data)
    deadline = "shop_incident_report_deadline_timestamp_seconds"
    assert f'{deadline}{{incident="INC-1",report="intermediate"}} {ts("2026-03-05T11:00:00"):.0f}' in text
    assert f'{deadline}{{incident="INC-1",report="initial"}}' not in text  # submitted
    assert 'shop_incident_report_submitted_timestamp_seconds{incident="INC-1",report="initial"}' in text
    assert 'shop_incident_aware_timestamp_seconds{incident="INC-2"}' in text
    assert 'incident="INC-2",report' not in text  # not classified: nothing due
    rc.close(data, "INC-1", ts("2026-03-02T12:00:00"))
    assert 'incident="INC-1"' not in rc.exposition(foreign, data)
    assert f"# TYPE {deadline} gauge" in rc.exposition(foreign, {"incidents": {}})


@pytest.mark.parametrize("text", ["yesterday", "2026-03-02 09:00", "12:00", ""])
def test_a_bad_time_is_one_line(text):
    with pytest.raises(rc.ClockError) as exc:
        rc.parse_time(text)
    assert "\n" not in str(exc.value)


def test_times_read_rfc3339_now_and_durations_ago():
    assert rc.parse_time("2026-03-02T09:00:00Z") == ts("2026-03-02T09:00:00")
    assert rc.parse_time("2026-03-02T10:00:00+01:00") == ts("2026-03-02T09:00:00")
    assert rc.parse_time("45m", now=10_000.0) == 10_000.0 - 2700
    assert rc.parse_time("now", now=5.0) == 5.0


@pytest.mark.parametrize("act, message", [
    (lambda d: rc.start(d, "bad id", 0.0, None), "is not an incident id"),
    (lambda d: rc.submit(d, "INC-9", "initial", 0.0), "no incident 'INC-9'"),
    (lambda d: rc.submit(d, "INC-1", "initial", 0.0), "not classified major: no report is due"),
    (lambda d: (rc.start(d, "INC-1", None, 200.0), rc.submit(d, "INC-1", "final", 300.0)),
     "the final report follows the intermediate one"),
    (lambda d: (rc.start(d, "INC-1", None, 200.0), rc.submit(d, "INC-1", "interim", 300.0)), "'interim' is not a "
                                                                                            "report kind"),
    (lambda d: rc.start(d, "INC-1", None, 50.0), "before the team was aware of it"),
])
def test_bad_input_is_one_line(act, message):
    data = {"incidents": {}}
    rc.start(data, "INC-1", 100.0, None)
    with pytest.raises(rc.ClockError, match=message):
        act(data)


def test_the_state_file_round_trips_and_a_broken_one_is_named(tmp_path):
    path = rc.state_path(tmp_path / "state")
    assert rc.load(path) == {"incidents": {}}
    data = {"incidents": {}}
    rc.start(data, "INC-1", 100.0, 200.0)
    rc.save(path, data)
    assert rc.load(path) == data and not list(path.parent.glob(".*.tmp"))
    path.write_text("{not json")
    with pytest.raises(rc.ClockError, match=r"incidents.json: cannot be read as incident clocks"):
        rc.load(path)
    path.write_text("[]")
    with pytest.raises(rc.ClockError, match="not an incident clocks file"):
        rc.load(path)
