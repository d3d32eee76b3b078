"""Cost per transaction judged with an interval against a real Prometheus: two canary/baseline pairs of small
instrumented apps (moneypath.instrument on the ticket shop's catalog) scraped every 0.5 s, charged continuously; a
canary that costs twice its baseline per charge fails with its interval above the tolerance, one that costs the
same passes with its interval around 1, though it pays an infrastructure bill its baseline does not (left out)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry

from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from tests.conftest import FOREIGN_PATH, free_port, run_cli, wait_for
from tests.support.prometheus_server import running_prometheus

pytestmark = pytest.mark.integration

PAIRS = {"dear": 2.0, "same": 1.0}  # the canary's cost per charge over its baseline's
ARMS = [(pair, track) for pair in PAIRS for track in ("canary", "baseline")]


def _charge(mp: MoneyPath, i: int, factor: float) -> None:
    provider = ("komoju", "knet")[i % 2]
    mp.record_authorization(provider, "card", "approved", 0.05)
    mp.add_cost("provider_fee", factor * (0.25 + 0.01 * (i * 7 % 10)), provider)  # USD 0.25 to 0.34 a charge
    for detector in ("duplicates", "ledger_balance"):  # the app's detectors looked at this charge: its zeros count
        mp.record_detector_run(detector)


@pytest.fixture
def apps(foreign):
    """Four instrumented apps serving /metrics, ledger balanced, each series touched once so that increase() sees it
    grow."""
    started = {}
    try:
        for arm in ARMS:
            mp = MoneyPath(foreign, PrometheusBackend(CollectorRegistry()))
            for i in range(2):
                _charge(mp, i, 1.0)
            mp.add_cost("infrastructure", 0.0)
            for currency in foreign.currencies:
                mp.set_ledger_imbalance(currency, 0)
            port = free_port()
            server, _ = mp.start_metrics_server(port)
            started[arm] = (mp, server, f"127.0.0.1:{port}")
        yield started
    finally:
        for _, server, _ in started.values():
            server.shutdown()
            server.server_close()


def _traffic(apps, stop: threading.Event) -> None:
    """20 charges a second on every app; the canaries also pay USD 1 of infrastructure a second."""
    i = 0
    while not stop.wait(0.05):
        i += 1
        for (pair, track), (mp, _, _) in apps.items():
            _charge(mp, i, PAIRS[pair] if track == "canary" else 1.0)
            if track == "canary":
                mp.add_cost("infrastructure", 0.05)


def _judge(url, tmp_path, pair, since, *more):
    run = run_cli("canary", "judge", "--catalog", str(FOREIGN_PATH), "--prometheus", url, "--state-dir",
                  str(tmp_path / pair), "--canary", f'pair="{pair}",track="canary"', "--baseline",
                  f'pair="{pair}",track="baseline"', "--since", since, "--metric", "cost_per_transaction", "--json",
                  *more)
    return run.returncode, json.loads(run.stdout)


def test_a_dearer_canary_fails_on_its_cost_interval_and_an_equal_one_passes(apps, tmp_path, foreign):
    targets = ",".join(f"{{targets: ['{addr}'], labels: {{pair: {pair}, track: {track}}}}}"
                       for (pair, track), (_, _, addr) in apps.items())
    config = f"global: {{scrape_interval: 500ms}}\nscrape_configs: [{{job_name: shop, static_configs: [{targets}]}}]\n"
    stop = threading.Event()
    feeder = threading.Thread(target=_traffic, args=(apps, stop), daemon=True)
    with running_prometheus(tmp_path / "prom", config) as url:
        wait_for(lambda: len(httpx.get(f"{url}/api/v1/query", timeout=5, params={"query": "up == 1"}).json()[
            "data"]["result"]) == 4, 30, "every app scraped")
        since = f"{time.time():.3f}"
        feeder.start()
        try:
            verdicts: dict[str, tuple[int, dict]] = {}

            def judged() -> bool:
                for pair in PAIRS:
                    if pair not in verdicts or verdicts[pair][1]["verdict"] == "inconclusive":
                        verdicts[pair] = _judge(url, tmp_path, pair, since)
                return all(result["metrics"] and result["metrics"][0]["status"] not in ("inconclusive", "not measured")
                           for _, result in verdicts.values())

            try:
                wait_for(judged, 40, "both pairs judged on their cost", interval_s=0.5)
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {[r['reason'] for _, r in verdicts.values()]}") from None
            _judge(url, tmp_path, "same", since, "--html", str(tmp_path / "same.html"))  # decided: one more look
        finally:
            stop.set()
            feeder.join(5)
    (code, dear), (same_code, same) = verdicts["dear"], verdicts["same"]
    for pair, (_, result) in verdicts.items():  # the figures a reader compares across changes (pytest -s)
        row = result["metrics"][0]
        print(f"{pair}: {row['status']}, {row.get('intervals')} intervals of {row.get('step_s')} s, ratio "
              f"{row.get('ratio')}, interval {row.get('interval')}, canary {row['canary']}, planned per arm "
              f"{row.get('planned_per_arm')}")
    [row] = dear["metrics"]
    assert (code, dear["verdict"], row["status"]) == (1, "fail", "fail"), row["reason"]
    assert row["interval_at_alpha"][0] > row["tolerance"] == pytest.approx(1.1)
    assert row["interval"][0] < row["ratio"] < row["interval"][1] and row["ratio"] == pytest.approx(2.0, rel=0.1)
    assert row["intervals"] >= 10 and row["step_s"] < 2 and 'component!="infrastructure"' in row["queries"]["canary"]["cost"]
    [row] = same["metrics"]
    assert (same_code, same["verdict"], row["status"]) == (0, "pass", "pass"), row["reason"]
    assert row["ratio"] == pytest.approx(1.0, abs=0.05) and row["interval"][1] < row["tolerance"]
    page = (tmp_path / "same.html").read_text()
    assert "Cost per transaction" in page and "cost interval" in page
