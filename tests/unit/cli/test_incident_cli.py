"""`moneypath incident classify|clock`: bad input is one line and exit 2; the clocks round-trip through the state
directory; classify says why it cannot reach Prometheus."""

from __future__ import annotations

import json

import pytest

from moneypath.check.report_clocks import parse_time
from tests.conftest import CATALOG_PATH, free_port, run_cli


def clock(tmp_path, *args):
    return run_cli("incident", "clock", *args, "--catalog", str(CATALOG_PATH), "--state-dir", str(tmp_path))


def test_start_report_show_close(tmp_path):
    assert clock(tmp_path, "start", "INC-1", "--aware-at", "2026-03-02T09:00:00Z").returncode == 0
    run = clock(tmp_path, "start", "INC-1", "--classified-at", "2026-03-02T10:00:00Z")
    assert run.returncode == 0, run.stderr
    assert "initial       due 2026-03-02T14:00:00Z" in run.stdout
    assert clock(tmp_path, "report", "INC-1", "initial", "--at", "2026-03-02T13:00:00Z").returncode == 0
    shown = json.loads(clock(tmp_path, "show", "INC-1", "--json").stdout)["INC-1"]
    assert shown["deadlines"]["intermediate"]["due_at"] == "2026-03-05T13:00:00Z"
    assert shown["deadlines"]["initial"]["submitted"] == "2026-03-02T13:00:00Z"
    assert clock(tmp_path, "close", "INC-1").returncode == 0
    assert clock(tmp_path, "show").stdout == "no open incident\n"
    assert "(closed " in clock(tmp_path, "show", "INC-1").stdout


@pytest.mark.parametrize("args, message", [
    (("start", "INC 1"), "'INC 1' is not an incident id"),
    (("start", "INC-1", "--aware-at", "last tuesday"), "'last tuesday' is not a time"),
    (("report", "INC-404", "initial"), "no incident 'INC-404'"),
    (("show", "INC-404"), "no incident 'INC-404'"),
])
def test_bad_clock_input_is_one_line_and_exit_2(tmp_path, args, message):
    run = clock(tmp_path, *args)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and message in run.stderr, run.stderr


def test_a_broken_state_file_is_one_line(tmp_path):
    (tmp_path / "incidents.json").write_text("{")
    run = clock(tmp_path, "show")
    assert run.returncode == 2 and "incidents.json: cannot be read as incident clocks" in run.stderr


def classify(tmp_path, *args):
    return run_cli("incident", "classify", "--catalog", str(CATALOG_PATH), "--state-dir", str(tmp_path), *args)


@pytest.mark.parametrize("args, message", [
    (("--since", "soon"), "'soon' is not a time"),
    (("--since", "10m", "--until", "20m"), "is not before --until"),
    (("--since", "10m", "--service", "wire-transfers"), "--service wire-transfers: not a business service"),
    (("--since", "10m", "--assess", "reputational=maybe"), "--assess 'reputational=maybe': give NAME=met"),
    (("--since", "10m", "--assess", "weather=met"), "NAME one of counterparts"),
])
def test_bad_classify_input_is_one_line_and_exit_2(tmp_path, args, message):
    run = classify(tmp_path, "--prometheus", "http://127.0.0.1:9", *args)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and message in run.stderr, run.stderr


def test_an_unreachable_prometheus_is_one_line(tmp_path):
    run = classify(tmp_path, "--prometheus", f"http://127.0.0.1:{free_port()}", "--since", "1h")
    assert run.returncode == 2 and "cannot reach Prometheus" in run.stderr and run.stderr.count("\n") == 1


def test_a_catalog_without_business_services_says_so(tmp_path):
    from tests.conftest import FOREIGN_PATH

    run = run_cli("incident", "classify", "--catalog", str(FOREIGN_PATH), "--prometheus", "http://127.0.0.1:9",
                  "--since", "1h")
    assert run.returncode == 2 and "no business_services" in run.stderr


def test_relative_times_read_back():
    assert parse_time("2h", now=10_000.0) == 2800.0
