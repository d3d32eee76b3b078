"""`moneypath lint --prometheus` against a real Prometheus scraping what a service exports (the catalog's
`metrics sample` exposition, served on loopback): clean when the service emits what the rules and dashboards
read; one line per renamed metric or dropped label, naming the rule or panel, when it does not; one line and
exit 2 when the server cannot be reached. On the shipped project and on the ticket shop's from `init`."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import CATALOG_PATH, ROOT, free_port, wait_for
from tests.foreign.harness import init_project, moneypath
from tests.support.prometheus_server import start_prometheus

pytestmark = pytest.mark.integration


class Exposition:
    """A /metrics endpoint on loopback whose text the test can change."""

    def __init__(self, text: str):
        self.text = text
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = outer.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.target = f"127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()


def scraped(tmp_path, text: str):
    """A fresh Prometheus scraping `text` every second; yields its URL once the first scrape landed."""
    exposition = Exposition(text)
    try:
        url, stop = start_prometheus(tmp_path, {"svc": exposition.target})
    except BaseException:
        exposition.close()
        raise
    try:
        wait_for(lambda: httpx.get(f"{url}/api/v1/query", params={"query": "count({job='svc'})"}, timeout=5)
                 .json()["data"]["result"], 30, "the first scrape")
        return url, lambda: (stop(), exposition.close())
    except BaseException:
        stop()
        exposition.close()
        raise


def sample(catalog_path) -> str:
    return moneypath("metrics", "sample", "--catalog", str(catalog_path), "--format", "text").stdout


def lint(root, catalog_path, url):
    return moneypath("lint", "--root", str(root), "--catalog", str(catalog_path), "--prometheus", url, check=False)


def test_the_shipped_project_lints_clean_against_what_its_service_emits(tmp_path):
    url, stop = scraped(tmp_path, sample(CATALOG_PATH))
    try:
        run = lint(ROOT, CATALOG_PATH, url)
        assert run.returncode == 0, run.stderr
        assert f"lint: no metric or label problem(s) against {url}" in run.stdout
    finally:
        stop()


def test_a_renamed_metric_and_a_dropped_label_are_named_with_their_rule_and_panel(tmp_path):
    project = tmp_path / "ops"
    catalog = init_project(project)
    text = sample(catalog)
    # the service renamed its duplicate-charge counter and stopped labelling authorizations by payment method
    broken = text.replace("shop_duplicate_charges_total", "shop_duplicate_charge_total")
    lines = [re.sub(r'method="[^"]*",?', "", line) if line.startswith("shop_authorizations_total{") else line
             for line in broken.splitlines()]
    broken = "\n".join(dict.fromkeys(lines)) + "\n"  # the series that differed by method alone are one now
    clean_url, stop_clean = scraped(tmp_path / "clean", text)
    try:
        assert lint(project, catalog, clean_url).returncode == 0
    finally:
        stop_clean()
    url, stop = scraped(tmp_path / "broken", broken)
    try:
        run = lint(project, catalog, url)
    finally:
        stop()
    assert run.returncode == 1
    renamed = [line for line in run.stderr.splitlines() if "shop_duplicate_charges_total is not on" in line]
    assert renamed and all(line.endswith("did you mean shop_duplicate_charge_total?") for line in renamed)
    assert any(line.startswith("alerts/moneypath-alerts.yaml: ShopDuplicateChargeDetected: ") for line in renamed)
    assert any(line.startswith("dashboards/") and ': panel "' in line for line in renamed)
    dropped = [line for line in run.stderr.splitlines() if "label method" in line]
    assert any(line.startswith("collector/recording-rules.yaml: provider_method:shop_authorizations:approval_ratio_rate30m:"
                               " label method (grouping) is on none of shop_authorizations_total") for line in dropped)
    assert all("shop_authorizations_total" in line for line in dropped), run.stderr
    assert len(run.stderr.splitlines()) == len(set(run.stderr.splitlines()))


def test_an_unreachable_prometheus_is_one_line_and_exit_2():
    run = moneypath("lint", "--prometheus", "http://127.0.0.1:1", check=False)
    assert run.returncode == 2
    assert run.stderr.strip().startswith("moneypath: --prometheus: cannot reach Prometheus at http://127.0.0.1:1")
    assert len(run.stderr.strip().splitlines()) == 1
