"""The HTML pages a person reads, opened in headless Chromium: the drill report, the load-test report, the
capacity plan and the snapshot of the overview dashboard (with the shop's money-path map).

Each page is made by the code that makes it in a real run, from recorded inputs rather than a whole drill
or Locust run: a drill journal (`moneypath drill report`), Locust's own statistics files (--json-file,
--csv-full-history) with what Prometheus observed, capacity steps, and a real Prometheus (the local stack,
on free loopback ports) scraping a ticket shop's service instrumented with moneypath. The drill report and
the snapshot are the ticket shop's (tests/foreign: Komoju and KNET, JPY and KWD), so money must read
"JPY 6,235" and "KWD 6.235", never minor units.

In Chromium (the Debian package, driven by Playwright; no browser download): every image loads, no
JavaScript or console error, no request fails, the page has its title and heading and no horizontal
overflow; then a full-page screenshot is saved to a directory the test prints, and to
$MONEYPATH_SCREENSHOTS when set. Look at them.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from moneypath.catalog import load_catalog
from moneypath.drills.report.report_map import MAP_FILE
from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from tests.conftest import CATALOG_PATH, ROOT, free_port, run_cli, wait_for

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
FOREIGN_PATH = ROOT / "tests" / "foreign" / "moneypath.yaml"
PAGE_TIMEOUT_MS = 30_000
T0 = 1_773_478_800.0  # 2026-03-14 09:00:00 UTC, the recorded runs' start


def chromium_path() -> str:
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if not found:
        pytest.skip("chromium is not installed (`make test` installs the Debian package chromium via scripts/setup.sh)")
    return found


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, timeout=PAGE_TIMEOUT_MS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    directory = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots: {directory}" + (f" and {os.environ['MONEYPATH_SCREENSHOTS']}"
                                          if os.environ.get("MONEYPATH_SCREENSHOTS") else ""))
    return directory


def check_page(browser, page_path: Path, title: str, heading: str, screenshots: Path, name: str,
               inspect=None) -> str:
    """Open the page; assert it is whole and clean; `inspect(page)` asserts what this page must show; save a
    full-page screenshot. Returns the page's text."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(f"JavaScript error: {exc}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} ({req.failure})"))
    try:
        page.goto(page_path.as_uri(), wait_until="load", timeout=PAGE_TIMEOUT_MS)
        images = page.evaluate("""() => [...document.images].map(i => ({
            src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}))""")
        assert page.title() == title
        assert page.locator("h1").count() == 1 and heading in page.locator("h1").inner_text()
        assert images, f"{name}: no image on the page"
        broken = [i["src"] for i in images if not i["complete"] or i["width"] <= 0 or i["height"] <= 0]
        assert not broken, f"{name}: broken images {broken}"
        on_disk = sorted(p.name for p in page_path.parent.iterdir() if p.suffix in (".png", ".svg"))
        shown = [i["src"] for i in images]
        # a map drawn inline (a drill report's, for its tooltips) is its SVG file written beside the page
        inline_maps = page.locator("svg.money-path-map").count()
        if inline_maps and MAP_FILE in on_disk and MAP_FILE not in shown:
            shown += [MAP_FILE] * inline_maps
        assert sorted(shown) == on_disk, f"{name}: every plot and map written is shown, once"
        wide = page.evaluate("""() => [...document.body.querySelectorAll('*')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .map(e => e.tagName + ' ' + (e.textContent || e.getAttribute('src') || '').slice(0, 60))""")
        assert not wide, f"{name}: wider than the window: {wide[:5]}"
        if inspect is not None:
            inspect(page)
        text = page.locator("body").inner_text()
        shot = screenshots / f"{name}.png"
        page.screenshot(path=str(shot), full_page=True, timeout=PAGE_TIMEOUT_MS)
        if os.environ.get("MONEYPATH_SCREENSHOTS"):
            extra = Path(os.environ["MONEYPATH_SCREENSHOTS"])
            extra.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, extra / shot.name)
        assert shot.stat().st_size > 10_000
        assert not problems, f"{name}: {problems}"
        return text
    finally:
        page.close()


# ---------------------------------------------------------------- the drill report (the ticket shop's)


def shop_journal() -> dict:
    """A duplicate-charge drill's journal as the runner writes it, on the ticket shop: Komoju captures some
    charges twice, in JPY and KWD; the alert fires, pages, the runbook finds the evidence, the fault clears."""
    inject, page, clear, resolved = T0 + 30, T0 + 72, T0 + 150, T0 + 215
    rng = random.Random(7)

    def points(f, start=T0, end=T0 + 260, step=2):
        return [[float(t), round(f(t), 4)] for t in range(int(start), int(end), step)]

    # increase over 10 s of the money charged twice: a ticket (JPY 6,235; KWD 6.235) or two while Komoju doubles
    twice = {"currency=JPY": points(lambda t: 6235.0 * (inject + 20 < t < clear + 10) * (1 + (t // 10) % 2)),
             "currency=KWD": points(lambda t: 6235.0 * (inject + 40 < t < clear) * ((t // 20) % 2))}
    return {
        "schema": 1, "drill": "duplicate-charge", "file": "runbooks/drills/duplicate-charge.yaml",
        "title": "A ticket buyer is charged twice", "runbook": "runbooks/shopduplicatechargedetected.md",
        "root": "/nonexistent", "alert": "ShopDuplicateChargeDetected",
        "narrative": "Saturday 19:05, on-sale of a stadium tour. Komoju's settlement lists some captures twice; "
                     "buyers in Tokyo and Kuwait City see two debits for one ticket.",
        "target": {"service": "http://127.0.0.1:41001", "prometheus": "http://127.0.0.1:41003",
                   "alertmanager": "http://127.0.0.1:41004", "pager": "http://127.0.0.1:41005",
                   "started_stack": False},
        "time_factor": 60.0, "duration_scale": 1.0, "started_at": T0, "finished_at": T0 + 260,
        "fault": {"where": "faultproxy", "name": "duplicate_capture", "params": {"rate": 0.2}, "target": "komoju",
                  "injected_at": inject, "cleared_at": clear, "halted": None},
        "classification_at": page, "awareness_at": inject + 35,
        "timeline": [
            {"t": T0, "kind": "phase", "text": "steady state checks"},
            {"t": T0 + 5, "kind": "load", "text": "baseline load 12 charges/s (komoju, knet; JPY, KWD)"},
            {"t": inject, "kind": "fault", "text": "duplicate_capture injected on komoju (rate=0.2)"},
            {"t": inject + 35, "kind": "alert_firing", "text": "ShopDuplicateChargeDetected firing (provider=komoju)"},
            {"t": page, "kind": "page", "text": "tickets-oncall, finance paged"},
            {"t": inject + 70, "kind": "diagnosis", "text": "runbook diagnosis: 2/2 steps found the evidence"},
            {"t": inject + 100, "kind": "note", "text": "money: 23 payment(s) affected, duplicates JPY 6,235, "
                                                        "KWD 6.235, unreconciled not checked (no --db-url), "
                                                        "writes lost 0 of 1520 acknowledged"},
            {"t": clear, "kind": "mitigation", "text": "fault cleared"},
            {"t": resolved, "kind": "resolved", "text": "ShopDuplicateChargeDetected resolved"},
        ],
        "objectives": [
            {"name": "steady_state_before", "ok": True, "reason": "charges flowing: 11.8/s"},
            {"name": "detected", "ok": True, "reason": "ShopDuplicateChargeDetected paged after 42 s (deadline 60 s)"},
            {"name": "diagnosed", "ok": True, "reason": "2 of 2 runbook steps returned the expected evidence"},
            {"name": "mitigated", "ok": True, "reason": "fault cleared"},
            {"name": "recovered", "ok": True, "reason": "alert resolved 65 s after mitigation (deadline 90 s)"},
            {"name": "no_unexpected_pages", "ok": True, "reason": "only expected pages"},
            {"name": "ledger_balanced", "ok": True, "reason": "shop_ledger_imbalance_minor is 0 in every currency; "
                                                              "all 1520 acknowledged payments and 1212 captures are "
                                                              "in the ledger"},
            {"name": "steady_state_after", "ok": True, "reason": "charges flowing: 12.1/s"},
        ],
        "timings": {"detect_s": 35.0, "page_s": 42.0, "diagnose_s": 70.0, "recover_s": 185.0},
        "money": {"payments_affected": 23, "duplicate_amount_minor": {"JPY": 6235, "KWD": 6235},
                  "unreconciled_minor": None, "writes_lost": 0, "acknowledged_payments": 1520,
                  "acknowledged_captures": 1212},
        "alerts": [
            {"alert": "ShopDuplicateChargeDetected", "labels": {"provider": "komoju"}, "expectation": "expected",
             "deadline_s": 60.0, "first_firing_at": inject + 35, "paged_at": page, "resolved_at": resolved,
             "receivers": ["tickets-oncall", "finance"], "ok": True, "reason": "paged within 42 s"},
            {"alert": "ShopChargeAvailabilityBudgetBurn", "expectation": "must_not_page", "deadline_s": None,
             "first_firing_at": None, "paged_at": None, "resolved_at": None, "receivers": [], "ok": True,
             "reason": "did not page"},
        ],
        "evidence": [
            {"step": "duplicate charges per provider, last hour", "kind": "promql",
             "query": "sum by (provider) (increase(shop_duplicate_charges_total[1m]))",
             "expect": "komoju: min 1; knet: max 0", "result": "komoju=23, knet=0", "ok": True, "at": inject + 68},
            {"step": "money charged twice per currency", "kind": "promql",
             "query": "sum by (currency) (increase(shop_duplicate_charged_minor_total[1m]))",
             "expect": "nonempty", "result": '{currency="JPY"} 12470 (JPY 12,470); {currency="KWD"} 6235 (KWD 6.235)',
             "ok": True, "at": inject + 69},
        ],
        "roles": [
            {"role": "engineering", "checkpoint": "T+15m: name the provider and the total per currency",
             "due_s": 900.0, "answered_by": None, "answer": None, "answered_at": None, "ok": None},
            {"role": "customer_support", "checkpoint": "T+30m: a reply for buyers who see two debits",
             "due_s": 1800.0, "answered_by": None, "answer": None, "answered_at": None, "ok": None},
        ],
        "regulatory": [
            {"regime": "PCI DSS incident response", "basis": "no fixed deadline", "due_at": None,
             "applies": "if card data may be compromised"},
        ],
        "series": {
            "Authorizations by outcome": {
                "query": "sum by (outcome) (rate(shop_authorizations_total[10s]))", "unit": "reqps",
                "points": {"outcome=approved": points(lambda t: 11.2 + rng.uniform(-0.6, 0.6)),
                           "outcome=declined": points(lambda t: 0.6 + rng.uniform(-0.2, 0.2))}},
            "Provider call failure share": {
                "query": "sum by (provider) (rate(shop_provider_requests_total{outcome=~\"error|timeout\"}[10s])) / "
                         "sum by (provider) (rate(shop_provider_requests_total[10s]))", "unit": "percentunit",
                "points": {"provider=komoju": points(lambda t: 0.002), "provider=knet": points(lambda t: 0.001)}},
            "Authorization latency p99": {
                "query": "histogram_quantile(0.99, sum by (le, provider) "
                         "(rate(shop_authorization_duration_seconds_bucket[10s])))", "unit": "s",
                "points": {"provider=komoju": points(lambda t: 0.21 + rng.uniform(0, 0.03)),
                           "provider=knet": points(lambda t: 0.34 + rng.uniform(0, 0.05))}},
            "Money charged twice": {
                "query": "sum by (currency) (increase(shop_duplicate_charged_minor_total[10s]))", "unit": "minor",
                "points": twice},
        },
        "verdict": "pass",
    }


def test_drill_report_page(browser, screenshots, tmp_path):
    run = tmp_path / "reports" / "duplicate-charge-20260314-090000"
    run.mkdir(parents=True)
    (run / "journal.json").write_text(json.dumps(shop_journal(), indent=1))
    done = run_cli("drill", "report", str(run / "journal.json"), "--catalog", str(FOREIGN_PATH))
    assert done.returncode == 0, done.stderr
    text = check_page(browser, run / "index.html", "Drill duplicate-charge: PASS",
                      "Drill report: duplicate-charge — A ticket buyer is charged twice", screenshots, "drill-report")
    assert "JPY 6,235, KWD 6.235" in text and "minor units" not in text


def test_drill_report_page_draws_the_money_path_map(browser, screenshots, tmp_path):
    """The reference catalog's map in a provider outage's report: the SVG inline, every edge of the catalog in
    its DOM, globex's edges drawn as hit and acme's not, the red edges naming the alerts that paged."""
    from moneypath.drills.report.rendering import render
    from moneypath.map.graph import build_map
    from tests.support import map_renderer
    from tests.support.drill_journal import outage_journal

    catalog = load_catalog(CATALOG_PATH)
    graph = build_map([catalog])
    run = tmp_path / "reports" / "provider-partial-outage-20260314-090000"
    render(outage_journal(), run, catalog)
    found: dict = {}

    def inspect(page):
        svg = page.locator("div.markup svg")
        assert svg.count() == 1 and svg.is_visible()
        assert "as at the drill's end" in svg.locator("text.subtitle").text_content()  # never "live"
        found.update(page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('svg [data-edge]')]
            .map(e => [e.getAttribute('data-edge'), e.cloneNode(false).outerHTML]))"""))

    text = check_page(browser, run / "index.html", "Drill provider-partial-outage: PASS",
                      "Drill report: provider-partial-outage", screenshots, "drill-report-map", inspect)
    assert set(found) == {e.id for e in graph.edges}
    assert {e for e, tag in found.items() if map_renderer.highlighted(tag)} >= {
        e.id for e in graph.edges_touching_provider("globex")}
    assert not {e for e, tag in found.items() if map_renderer.highlighted(tag)} & {
        e.id for e in graph.edges_touching_provider("acme")}
    assert "Money-path map" in text and "MoneyPathProviderPartialOutage" in text and "not a live read" in text


# ---------------------------------------------------------------- the load-test report and the capacity plan


def locust_recording(work: Path, duration_s: int = 60) -> None:
    """What Locust writes with --json-file and --csv-full-history for a 60 s checkout run at 10 requests/s."""
    rng = random.Random(3)

    def entry(name, method, n, failures, centre_ms):
        times: dict[str, int] = {}
        for _ in range(n):
            ms = max(1, round(rng.lognormvariate(0, 0.35) * centre_ms, -1 if centre_ms > 100 else 0))
            times[str(ms)] = times.get(str(ms), 0) + 1
        return {"name": name, "method": method, "num_requests": n, "num_failures": failures, "response_times": times,
                "total_response_time": sum(float(k) * v for k, v in times.items()),
                "max_response_time": max(float(k) for k in times), "start_time": T0,
                "last_request_timestamp": T0 + duration_s, "num_none_requests": 0, "min_response_time": min(
                    float(k) for k in times), "num_reqs_per_sec": {}, "num_fail_per_sec": {}}

    entries = [entry("authorize [acme]", "POST", 180, 1, 120), entry("authorize [globex]", "POST", 178, 0, 150),
               entry("capture [acme]", "POST", 140, 0, 60), entry("capture [globex]", "POST", 139, 0, 70),
               entry("refund [acme]", "POST", 30, 0, 80), entry("GET /v1/payments/{id}", "GET", 33, 0, 15)]
    (work / "locust.json").write_text(json.dumps(entries))
    header = ["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s", "50%", "66%", "75%", "80%",
              "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%", "Total Request Count", "Total Failure Count",
              "Total Median Response Time", "Total Average Response Time", "Total Min Response Time",
              "Total Max Response Time", "Total Average Content Size"]
    with (work / "locust_stats_history.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        total = 0
        for i in range(duration_s + 1):
            users = min(10, i + 1)
            rps = 0.0 if i == 0 else min(10.0, i) + rng.uniform(-0.4, 0.4)
            total += round(rps)
            p50, p95, p99 = 90 + rng.randint(0, 15), 180 + rng.randint(0, 40), 240 + rng.randint(0, 60)
            w.writerow([int(T0) + i, users, "", "Aggregated", f"{rps:.2f}", "0.00" if i != 31 else "0.10",
                        *(["N/A"] * 11 if i == 0 else [p50, p50 + 10, p50 + 20, p50 + 30, p95 - 20, p95, p99 - 10,
                                                       p99, p99 + 40, p99 + 40, p99 + 60]),
                        total, 1 if i > 31 else 0, p50, p50 + 8, 9, p99 + 60, 412])


def test_loadtest_report_page(browser, screenshots, tmp_path):
    from moneypath.formats import scenarios
    from moneypath.loadtest.command import gates, locust_run, run_report
    from moneypath.loadtest.command.stats import history, load_entries, summarize

    c = load_catalog(CATALOG_PATH)
    sfile = scenarios.load(ROOT / "loadtests" / "scenarios.yaml", c)
    scenario = sfile.get("checkout")
    work = tmp_path / "run" / "locust"
    work.mkdir(parents=True)
    locust_recording(work)
    summary = summarize(load_entries(work / "locust.json"), scenario.judge_provider, 60)
    ticks = history(work / "locust_stats_history.csv")
    thr = gates.thresholds(c, 30)
    prom = gates.PromObservations(p99_s=0.262, error_ratio=0.0007, authorizations=358, duplicate_charges=0,
                                  ledger_imbalance_max_abs=0, caught_up_after_s=4, oldest_unreconciled_s=0,
                                  circuit_max=0, locust_series=14, cost_per_authorization_usd=0.1873)
    spec = locust_run.LoadTestSpec("checkout", 10, 10, 60)
    outcome = locust_run.RunOutcome(scenario, spec, 10, 10, 60, T0, T0 + 61, summary, prom, "",
                                gates.evaluate(summary, prom, thr, scenario), work,
                                {"service authorizations/s": [(T0 + i, min(6.0, i * 0.6)) for i in range(0, 62, 2)],
                                 "service p99 (s)": [(T0 + i, 0.24 + (i % 7) / 100) for i in range(4, 62, 2)]},
                                ticks)
    target = locust_run.LoadTarget("http://127.0.0.1:41001", "http://127.0.0.1:41003", None, "token", None)
    result = locust_run.run_result(c, outcome, target)
    result.p99_threshold_ms = thr.p99_s * 1000
    out = tmp_path / "run"
    run_report.render(result, ticks, outcome.service_series, out)
    verdict = "PASSED" if result.passed else "FAILED"
    check_page(browser, out / "report.html", f"Load test checkout: {verdict}", "Load test checkout", screenshots,
               "loadtest-report")


def test_capacity_plan_page(browser, screenshots, tmp_path):
    from moneypath.formats import scenarios
    from moneypath.loadtest.command.capacity import plan as capacity
    from moneypath.loadtest.command.capacity import plan_report

    c = load_catalog(CATALOG_PATH)
    sfile = scenarios.load(ROOT / "loadtests" / "scenarios.yaml", c)
    steps = [capacity.CapacityStep(rate, achieved, auth, p99, p99_prom, failures, cost, passed, reasons, 14,
                                   concurrency=inflight, limit_reason=limit, goodput_rps=goodput, refused_rps=refused)
             for rate, achieved, auth, p99, p99_prom, failures, cost, passed, reasons, inflight, limit, goodput,
             refused in [
                 (20, 19.8, 8.9, 110.0, 118.0, 0.0, 0.1912, True, [], 2.2, "none at its ceiling (highest: service "
                  "CPU 31%)", 19.8, 0.0),
                 (40, 39.5, 17.8, 150.0, 161.0, 0.0, 0.1874, True, [], 5.9, None, 39.5, 0.0),
                 (60, 59.1, 26.6, 240.0, 255.0, 0.001, 0.1861, True, [], 14.2, "service CPU at 88% of its ceiling",
                  59.0, 0.0),
                 (80, 71.4, 32.1, 820.0, 870.0, 0.012, 0.1902, False,
                  ["p99 820 ms over the 300 ms SLO", "delivered 71.4 of 80 requests/s (89%)"], 58.5,
                  "service CPU at 97% of its ceiling", 70.5, 0.6),
                 (120, 104.2, 29.8, 1310.0, 1420.0, 0.31, 0.1950, False,
                  ["p99 1310 ms over the 300 ms SLO", "failure ratio 31% over 0.1%"], 136.0,
                  "service CPU at 99% of its ceiling", 71.9, 30.1)]]
    saturation = capacity.CapacityStep(74.0, 74.0, 33.3, 700.0, 720.0, 0.0, 0.19, True, [], 14, closed_loop=True, users=64,
                                       concurrency=52.0, limit="service", limit_reason="service CPU at 96% of its ceiling")
    result = capacity.plan(c, sfile, steps, current=5.0, utilization=0.7, saturation=saturation)
    plan_report.render(result, tmp_path)

    def inspect(page):
        assert page.locator("pre").count() == 0, "the plan is tables, not preformatted text"
        assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        headline = page.locator("table").first
        assert "Goodput past saturation" in headline.inner_text()
        assert headline.locator("tr.mark th").inner_text() == "Knee, one instance"
        rows = page.locator("h2:text-is('Steps') + table tr")
        assert rows.count() == 1 + len(steps)  # the header, then one row per step
        assert page.locator("h2:text-is('Steps') + table tr.mark td").first.inner_text() == "60"
        assert page.locator("h2:text-is('Steps') + table tr.fail").count() == 2
        assert page.locator("h2:text-is('Projections') + table tr").count() == 1 + 3
        figures = page.evaluate("""() => {
            const body = document.body.getBoundingClientRect().width;
            return [...document.images].map(i => ({src: i.getAttribute('src'), top: i.getBoundingClientRect().top,
                bottom: i.getBoundingClientRect().bottom, share: i.getBoundingClientRect().width / body}));
        }""")
        assert [f["src"] for f in figures] == ["capacity.png", "capacity-p99.png", "capacity-usl.png",
                                               "capacity-cost.png"]
        assert all(f["share"] > 0.97 for f in figures), f"not full width: {figures}"
        assert all(a["bottom"] <= b["top"] for a, b in zip(figures, figures[1:])), "figures are stacked"

    check_page(browser, tmp_path / "capacity.html", "Capacity and cost plan", "Capacity and cost plan", screenshots,
               "capacity-plan", inspect)


# ---------------------------------------------------------------- the snapshot (the ticket shop's, from Prometheus)


def feed(mp: MoneyPath, stop: threading.Event) -> None:
    """The ticket shop's traffic as its service records it: charges through Komoju and KNET, ledger writes,
    provider calls, requests and cost; and a ledger out of balance by 6235 minor units in JPY and in KWD."""
    rng = random.Random(11)
    mp.set_ledger_imbalance("JPY", 6235)
    mp.set_ledger_imbalance("KWD", 6235)
    while not stop.is_set():
        for _ in range(8):
            provider = rng.choice(("komoju", "knet"))
            outcome = rng.choices(("approved", "declined", "error"), (90, 8, 2))[0]
            seconds = rng.lognormvariate(-1.8, 0.4) * (1.4 if provider == "knet" else 1.0)
            mp.record_authorization(provider, rng.choice(("card", "konbini", "debit")), outcome, seconds)
            mp.record_provider_call(provider, "authorize", "success" if outcome != "error" else "error", seconds * 0.8)
            mp.record_ledger_write("committed", rng.uniform(0.002, 0.02))
            mp.record_http("/charges", "POST", 201 if outcome == "approved" else 402, seconds * 1.1)
            mp.add_cost("provider_fee", 0.12, provider)
        mp.add_cost("infrastructure", 0.0004)
        stop.wait(0.5)


# The ticket shop's money path while its catalog declares none: a charge to each provider, and the ledger.
SHOP_MONEY_PATH = """
money_path:
  nodes:
    buyer: {kind: funding, label: ticket buyer}
    tickets: {kind: service, label: ticket shop, pci: [transmit]}
    komoju: {kind: provider, provider: komoju}
    knet: {kind: provider, provider: knet}
    ledger: {kind: ledger, label: ledger}
  edges:
    - {from: buyer, to: tickets, movement: authorize, signals: {rate: authorizations_total}}
    - {from: tickets, to: komoju, movement: authorize, signals: {rate: 'provider_requests_total{provider="komoju"}'}}
    - {from: tickets, to: knet, movement: authorize, signals: {rate: 'provider_requests_total{provider="knet"}'}}
    - {from: tickets, to: ledger, movement: record, signals: {rate: ledger_writes_total}}
"""


def shop_with_money_path(directory: Path):
    shop = load_catalog(FOREIGN_PATH)
    if shop.money_path is not None:
        return shop
    path = directory / "moneypath.yaml"
    path.write_text(FOREIGN_PATH.read_text().rstrip("\n") + "\n" + SHOP_MONEY_PATH)
    return load_catalog(path)


def test_snapshot_page(browser, screenshots, tmp_path):
    from moneypath.generate.dashboards import dashboard_uid, dashboards
    from moneypath.stack import local as stack
    from moneypath.stack.snapshot import SnapshotSpan, snapshot

    if not shutil.which("prometheus"):
        pytest.fail("prometheus missing: `make test` installs the Debian package prometheus")
    shop = shop_with_money_path(tmp_path)
    mp = MoneyPath(shop, PrometheusBackend(CollectorRegistry()))
    port = free_port()
    server, _ = mp.start_metrics_server(port)
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(mp, stop), daemon=True)
    feeder.start()
    state_dir = tmp_path / "stack"
    try:
        state = stack.up(shop, state_dir, stack.StackSpec([f"127.0.0.1:{port}"], fast=True), progress=lambda *_: None)
        prom = state.url("prometheus")
        ratio = "slo:sli_error:ratio_rate5m"

        def recorded() -> bool:
            r = httpx.get(f"{prom}/api/v1/query", params={"query": ratio}, timeout=5).json()
            return bool(r["data"]["result"])

        wait_for(recorded, 60, "the shop's SLI recording rules to have values", interval_s=1)
        time.sleep(20)  # a few points on every graph
        page = snapshot(shop, prom, tmp_path / "snapshot", SnapshotSpan("2m"), progress=lambda *_: None)
    finally:
        stop.set()
        feeder.join(timeout=10)
        stack.down(state_dir, progress=lambda *_: None)
        server.shutdown()
        server.server_close()
    board = dashboards(shop)[dashboard_uid(shop, "overview")]["title"]
    stamp = page.read_text().split(f"<title>{board} — snapshot ", 1)[1].split("</title>", 1)[0]
    text = check_page(browser, page, f"{board} — snapshot {stamp}", board, screenshots, "snapshot")
    assert shop.links.overview_dashboard in text and "ShopLedgerImbalance" in text
    # the money-path map, drawn with its live colours: every edge measured by the feed above
    assert (page.parent / "money-path.svg").is_file() and "Money path" in text and "0 not measured" in text
