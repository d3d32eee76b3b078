"""Readiness for real: a quarter of back-dated drill history (records written per the history's contract, as
Prometheus keeps the real clock), `moneypath readiness serve` scraped by the local stack's Prometheus (an extra
scrape job) evaluating the generated readiness rules; Alertmanager delivers the tickets to the pager: the
never-rehearsed paging alerts at once, the creeping one, and the lapsing one only once its last pass goes stale
(seconds into the test). Then the readiness dashboard's snapshot page, from that Prometheus, in Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from moneypath.catalog.conventions import READINESS_METRICS, AlertKey
from moneypath.check.rehearsals import paging_alerts, timestamp
from moneypath.stack import local as stack
from tests.conftest import CATALOG_PATH, ROOT, free_port, http_ok, wait_for
from tests.docs_examples import args_of, code_block, command, substitute
from tests.integration._common.test_html_pages import browser, check_page, screenshots  # noqa: F401 - fixtures
from tests.support import drill_history as h

pytestmark = pytest.mark.integration

STALE_AFTER_S = 20  # the lapsing alert's last pass reaches its 90-day policy this long after the history is written


def tickets(pager: str, alertname: str) -> list[dict]:
    return httpx.get(f"{pager}/pages", params={"alertname": alertname, "event": "firing"}, timeout=5).json()


def query(prom: str, expr: str) -> list[dict]:
    return httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5).json()["data"]["result"]


@pytest.fixture
def exporter(catalog, tmp_path):
    """`moneypath readiness serve` as docs/readiness.md runs it, on a free loopback port, reading an empty history."""
    history = tmp_path / "history"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    documented = args_of(command(code_block("docs/readiness.md", "Export to Prometheus", "sh"), "readiness", "serve"))
    args = substitute(documented, {"127.0.0.1:9479": f"127.0.0.1:{port}"})
    proc = subprocess.Popen([sys.executable, "-m", "moneypath", *args, "--catalog", str(CATALOG_PATH),
                             "--history", str(history)], cwd=ROOT, env=env)
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/metrics"), 30, "the readiness exporter")
        yield history, f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_readiness_tickets_through_alertmanager_and_its_snapshot(catalog, exporter, tmp_path, browser, screenshots):  # noqa: F811
    from moneypath.generate.dashboards import dashboard_uid, dashboards
    from moneypath.stack.snapshot import SnapshotSpan, snapshot

    history, target = exporter
    names = paging_alerts(catalog)
    ready, lapsing, creeping = names["LedgerWriteFailures"], names["DuplicateChargeDetected"], names["FraudSpike"]
    lapsed, creep = catalog.alert_name(AlertKey.READINESS_LAPSED), catalog.alert_name(AlertKey.TIME_TO_PAGE_CREEPING)
    state_dir = tmp_path / "stack"
    state = stack.up(catalog, state_dir, stack.StackSpec(fast=True), progress=lambda *_: None)
    try:
        prom, pager = state.url("prometheus"), state.url("pager")
        stack.set_extra_scrape_targets(state_dir, "readiness", [target])
        written_at = time.time()
        quarter = h.quarter(written_at, ready, lapsing, creeping, lapse_in_s=STALE_AFTER_S)
        # its failed run after the pass would make it not ready at once (tests/unit/readiness/test_earned.py): the
        # pass alone goes stale here
        records = h.write(history, [r for r in quarter if not (r["drill"] == "lapsing" and r["verdict"] == "fail")])
        stale_at = timestamp(next(r for r in records if r["drill"] == "lapsing" and r["verdict"] == "pass")["ended_at"]) \
            + 90 * 86400
        last = READINESS_METRICS["last_pass"]
        wait_for(lambda: len(query(prom, last)) == 3, 30, "Prometheus to scrape the readiness series")
        newest = max(timestamp(r["ended_at"]) for r in records if r["drill"] == "weekly-ready")
        assert float(query(prom, f'{last}{{alert="{ready}"}}')[0]["value"][1]) == newest

        never = set(names.values()) - {ready, lapsing, creeping}
        got = wait_for(lambda: {p["labels"]["alert"] for p in tickets(pager, lapsed)} >= never
                       and tickets(pager, lapsed), 30, "the never-rehearsed tickets")
        assert {p["labels"]["reason"] for p in got} == {"never_rehearsed"}
        assert {p["receiver"] for p in got} == {catalog.routes.ticket}
        assert all(p["labels"]["severity"] == "ticket" for p in got)
        assert time.time() < stale_at, "the stack took too long: the lapsing drill went stale before it was looked at"
        assert lapsing not in {p["labels"]["alert"] for p in got}  # not stale yet

        creeping_ticket = wait_for(lambda: tickets(pager, creep), 30, "the time-to-page creeping ticket")
        assert {(p["labels"]["alert"], p["labels"]["reason"]) for p in creeping_ticket} == \
            {(creeping, "slower_than_before")}

        stale = wait_for(lambda: [p for p in tickets(pager, lapsed) if p["labels"]["alert"] == lapsing],
                         STALE_AFTER_S + 40, "the lapse ticket once the drill goes stale")
        assert stale[0]["labels"]["reason"] == "stale" and stale[0]["received_at"] >= stale_at
        print(f"\ndrill stale at +{stale_at - written_at:.1f} s, ticket at the pager +"
              f"{stale[0]['received_at'] - written_at:.1f} s ({stale[0]['received_at'] - stale_at:.1f} s after)")
        assert ready not in {p["labels"]["alert"] for p in tickets(pager, lapsed) + tickets(pager, creep)}
        page = snapshot(catalog, prom, tmp_path / "snapshot", SnapshotSpan("2m"), progress=lambda *_: None,
                        board="readiness")
    finally:
        stack.down(state_dir, progress=lambda *_: None)
    board = dashboards(catalog)[dashboard_uid(catalog, "readiness")]["title"]
    stamp = page.read_text().split(f"<title>{board} — snapshot ", 1)[1].split("</title>", 1)[0]
    text = check_page(browser, page, f"{board} — snapshot {stamp}", board, screenshots, "readiness-snapshot")
    assert "Never rehearsed (not measured)" in text and names["LedgerImbalance"] in text
    assert lapsed in text and creep in text  # the board's alerts, with their runbooks
