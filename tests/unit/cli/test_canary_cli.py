"""`moneypath canary judge` in process against the Prometheus stand-in: exit codes a pipeline branches on (0 pass,
1 fail, 3 inconclusive or not measured, 2 bad usage), one line per problem on stderr, --json and --html reports,
--watch until a verdict, and the serve command's refusal of a bad address."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FOREIGN_PATH, run_cli
from tests.support.canary_prom import FakePrometheus, arm, install

SELECTORS = ("--canary", 'track="canary"', "--baseline", 'track="baseline"')


def judge(tmp_path, *more):
    return run_cli("canary", "judge", "--catalog", str(FOREIGN_PATH), "--prometheus", "http://prom.test",
                   "--state-dir", str(tmp_path / "state"), *more)


@pytest.fixture
def prom(foreign, monkeypatch):
    def serve(canary, down=False):
        return install(monkeypatch, FakePrometheus(canary + arm(foreign, "baseline"), start=1.0, down=down))
    return serve


def test_a_failed_canary_exits_1_with_json_and_html_reports(foreign, prom, tmp_path):
    prom(arm(foreign, "canary", duplicates=1))
    run = judge(tmp_path, *SELECTORS, "--since", "10m", "--json", "--html", str(tmp_path / "report.html"))
    assert run.returncode == 1, run.stderr
    result = json.loads(run.stdout)
    assert result["verdict"] == "fail" and result["exit_code"] == 1
    page = (tmp_path / "report.html").read_text()
    assert "Canary verdict: " in page and "duplicate charges in the canary" in page
    assert f'{foreign.metric("authorizations_total")}{{outcome=&quot;declined&quot;,track=&quot;canary&quot;}}' in page


def test_an_inconclusive_canary_exits_3_and_prints_what_it_needs(foreign, prom, tmp_path):
    prom(arm(foreign, "canary", n=40))
    run = judge(tmp_path, *SELECTORS, "--since", "10m")
    assert run.returncode == 3
    assert run.stdout.startswith("canary: inconclusive — needs ~")
    assert "  invariant duplicate_charges: pass" in run.stdout


def test_not_measured_is_one_line_each_on_stderr_and_exit_3(foreign, prom, tmp_path):
    prom([], down=True)
    run = judge(tmp_path, *SELECTORS, "--since", "10m")
    assert run.returncode == 3
    assert run.stderr.splitlines() == ["not measured: Prometheus does not answer: cannot reach Prometheus at "
                                       "http://prom.test: ConnectError"]


@pytest.mark.parametrize("args, message", [
    (("--metric", "error_rate", "--since", "10m"), "moneypath: unknown canary metric 'error_rate'"),
    (("--since", "tomorrow"), "moneypath: since 'tomorrow' is not a time: give RFC 3339"),
    (("--since", "10m", "--interval", "often"), "moneypath: --interval 'often' is not a duration"),
])
def test_bad_usage_is_one_line_and_exit_2(foreign, prom, tmp_path, args, message):
    prom(arm(foreign, "canary"))
    run = judge(tmp_path, *SELECTORS, *args)
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1 and run.stderr.startswith(message)


def test_a_selector_that_is_not_promql_is_bad_usage(foreign, prom, tmp_path):
    prom(arm(foreign, "canary"))
    run = judge(tmp_path, "--canary", "track=canary", "--baseline", 'track="baseline"', "--since", "10m")
    assert run.returncode == 2 and "is not PromQL label matchers" in run.stderr


def test_watch_judges_every_interval_until_a_verdict(foreign, prom, tmp_path, monkeypatch):
    fake = prom(arm(foreign, "canary", n=40))
    naps = []

    def sleep(seconds):  # the canary charges someone twice while the judge waits
        naps.append(seconds)
        fake.series = arm(foreign, "canary", n=80, duplicates=1) + arm(foreign, "baseline")

    monkeypatch.setattr("time.sleep", sleep)
    run = judge(tmp_path, *SELECTORS, "--since", "10m", "--watch", "--interval", "5s")
    assert run.returncode == 1 and naps == [5.0]
    assert " inconclusive — needs ~" in run.stderr.splitlines()[0]


def test_serve_refuses_an_address_that_is_not_host_port(tmp_path):
    run = run_cli("canary", "serve", "--catalog", str(FOREIGN_PATH), "--prometheus", "http://prom.test",
                  "--listen", "localhost")
    assert run.returncode == 2 and "--listen 'localhost' is not HOST:PORT" in run.stderr


def test_help_explains_the_selectors_and_exit_codes():
    run = run_cli("canary", "judge", "--help")
    assert run.returncode == 0
    text = " ".join(run.stdout.split())
    assert "PromQL label matchers without braces" in text and "3 inconclusive" in text and "2 bad usage" in text


def test_watch_gives_up_at_max_inconclusive_when_nothing_is_measured(foreign, prom, tmp_path, monkeypatch):
    prom([], down=True)
    clock = iter(range(0, 100_000, 3000))  # each look 50 minutes after the last: 2h pass on the third
    monkeypatch.setattr("time.monotonic", lambda: next(clock))
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    run = judge(tmp_path, *SELECTORS, "--since", "10m", "--watch")
    assert run.returncode == 3 and run.stderr.count("inconclusive — not measured: Prometheus does not answer") == 2
