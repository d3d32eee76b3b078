"""`moneypath alerts backtest` on a real Prometheus holding a synthetic week (benchmarks/synthetic_week.py, loaded
with `promtool tsdb create-blocks-from openmetrics`): every known incident is found by the alert meant for
it, the quiet nights (including 3 failures out of 5 payments at 03:00) page nobody, and the noise budget
decides the exit code. On the shipped catalog and on the ticket shop's."""

from __future__ import annotations

import calendar
import json
import shutil
import subprocess
import time

import httpx
import pytest
from benchmarks.synthetic_week import DAY, DAYS, HOUR, incidents, load

from moneypath.catalog.conventions import slo_alert_key
from tests.conftest import free_port, http_ok, stop_process, wait_for
from tests.docs_examples import args_of, code_block, fill, required, shell
from tests.foreign.harness import moneypath

pytestmark = pytest.mark.integration


@pytest.fixture(params=["catalog", "foreign"])
def week(request, tmp_path):
    """(catalog, catalog path, Prometheus URL, end of the week) with the week in Prometheus' storage."""
    c = request.getfixturevalue(request.param)
    end = int(time.time()) // DAY * DAY  # the last UTC midnight: days and nights as the week says
    load(c, end, tmp_path / "data", tmp_path)
    (tmp_path / "prometheus.yml").write_text("global: {}\n")
    port = free_port()
    proc = subprocess.Popen([shutil.which("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--storage.tsdb.retention.time=30d"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(f"{url}/-/ready"), 60, "Prometheus to load the week")
        auth = c.metric("authorizations_total")
        wait_for(lambda: httpx.get(f"{url}/api/v1/query", params={"query": f"count({auth})", "time": end},
                                   timeout=5).json()["data"]["result"], 30, "the week's series")
        yield c, c.path, url, end
    finally:
        stop_process(proc)


def expected_alert(c, key: str) -> str | None:
    """The catalog's name for an incident's alert (the burn alert of its availability SLO), or None when the
    catalog has no such alert (the ticket shop has no ledger-write alert)."""
    if key.endswith("BudgetBurn"):
        slo = next((k for k, s in c.slos.items() if s.total and s.total.signal == "authorizations_total"), None)
        return c.alert_name(slo_alert_key(slo)) if slo else None
    return c.alert_name(key) if key in c.alerts else None


def test_the_backtest_finds_every_incident_and_keeps_the_nights_quiet(week):
    """docs/alerts.md's synopsis, its optional parts as named, on this Prometheus and catalog."""
    c, path, url, end = week
    [synopsis] = shell(code_block("docs/alerts.md", "Backtesting the alerts against history", "sh"))
    backtest = args_of(synopsis)
    run = moneypath(*fill(required(backtest, "--step", "--end", "--max-pages-per-week", "--json"), prometheus=url,
                          end=str(end), max_pages_per_week="1"), "--catalog", str(path), check=False, timeout=600)
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads(run.stdout)
    print(f"\n{c.service}: 7d at 1m evaluated in {result['seconds']} s")
    by_name = {a["alert"]: a for a in result["alerts"]}
    start = end - DAYS * DAY

    def starts(alert: str, kind: str = "firings") -> list[float]:
        return [calendar.timegm(time.strptime(f["start"], "%Y-%m-%dT%H:%M:%SZ")) for f in by_name[alert][kind]]

    found = []
    for incident in incidents(list(c.providers)[:2]):
        alert = expected_alert(c, incident.alert)
        if alert is None:
            continue
        begin = start + incident.start
        hits = [t for t in starts(alert) if begin <= t <= begin + incident.minutes * 60 + 1800]
        assert hits, f"{incident.name}: {alert} never fired between its start and 30 minutes after its end"
        found.append(alert)
    assert len(found) >= 3
    for alert in by_name.values():
        if alert["severity"] != "page":
            continue
        for t in starts(alert["alert"], "pagings"):  # a slow-burn ticket may open at night; a page may not
            hour = (t - start) % DAY / HOUR
            assert not 1 <= hour < 5, f"{alert['alert']} fired at night ({time.strftime('%a %H:%M', time.gmtime(t))})"
    watchdog = by_name[c.alert_name("Watchdog")]
    assert watchdog["severity"] == "none" and watchdog["firing_s"] >= 7 * DAY - 120
    over = [line for line in run.stderr.splitlines() if line.startswith("OVER BUDGET")]
    assert over and all("(budget 1)" in line for line in over)
    assert not any(c.alert_name("Watchdog") in line for line in over)
    burn = expected_alert(c, "AuthorizationAvailabilityBudgetBurn")
    assert any(burn in line for line in over)  # the outage and the 10 % errors: two pages in a week
    budget = max(a["pages_per_week"] for a in result["alerts"])
    again = moneypath(*fill(required(backtest, "--end", "--max-pages-per-week"), prometheus=url, range="1d",
                            end=str(end), max_pages_per_week=f"{budget * 7 + 1:g}"), "--catalog", str(path),
                      check=False, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "firing in all" in again.stdout  # the table


def test_bad_input_is_one_line_and_exit_2(catalog):
    for args, message in ((["--prometheus", "http://127.0.0.1:1"], "cannot reach Prometheus"),
                          (["--prometheus", "http://127.0.0.1:1", "--range", "a week"], "not a Prometheus duration"),
                          (["--prometheus", "http://127.0.0.1:1", "--end", "yesterday"], "--end: 'yesterday'")):
        run = moneypath("alerts", "backtest", *args, check=False)
        assert run.returncode == 2 and message in run.stderr, run.stderr
        assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) <= 2
