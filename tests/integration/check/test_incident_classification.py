"""`moneypath incident classify` and `incident clock` against a real Prometheus, on the ticket shop's catalog (other
providers, JPY and KWD): an instrumented app (the moneypath library, the shop's catalog plus a counter of charged
amounts and one of customers affected) takes charges, fails half of them for a few seconds, recovers; classify
then says major (criteria met), not major (not met) and not measured (no clients counter, what only a person
judges left open). The clock exporter's deadlines are scraped and the IncidentReportDue ticket fires before the
deadline (set seconds ahead), and stops once the report is recorded.

Compressed: the daily averages are taken over the 10 s before the incident (dora.daily_average_over) and the
thresholds are scaled down so seconds of traffic can cross them; the arithmetic is the production one."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import INCIDENT_METRICS, AlertKey
from moneypath.generate.rules import business_alert_rules
from moneypath.instrument import MoneyPath
from tests.conftest import free_port, http_ok, stop_process, wait_for
from tests.foreign.harness import MONEYPATH, moneypath
from tests.support.prometheus_server import start_prometheus
from tests.support.shop_catalog import foreign_data

pytestmark = pytest.mark.integration

RATE = 20  # charges a second
DUE_IN = 20  # the initial report's deadline, seconds after the clock starts
TICKET_BEFORE = 8  # IncidentReportDue's threshold


def shop_catalog(path, clients: bool, downtime: str):
    data = foreign_data()
    data["signals"]["charged_minor_total"] = {"type": "counter", "unit": "minor", "help": "Charged amounts.",
                                              "labels": {"currency": ["@currencies"], "outcome": ["ok", "failed"]}}
    data["signals"]["customers_affected_total"] = {"type": "counter", "help": "Customers whose charge failed."}
    data["business_services"] = {"ticket-sales": {
        "description": "Customers buy tickets by card.", "transactions": 'authorizations_total{method="card"}',
        "affected": 'authorizations_total{method="card",outcome=~"error|timeout"}', "value": "charged_minor_total",
        "affected_value": 'charged_minor_total{outcome="failed"}', "critical": True,
        "tolerance": {"disruption": "30m", "value_held_up": {"JPY": 500000}}}}
    data["dora"] = {"daily_average_over": "10s", **({"clients_signal": "customers_affected_total"} if clients else {}),
                    "thresholds": {"transactions_share": 0.00001, "value_share": 0.00001, "clients": 10,
                                   "downtime": downtime}}
    data["alerts"][AlertKey.INCIDENT_REPORT_DUE] = {"severity": "ticket", "threshold": TICKET_BEFORE,
                                                   "summary": "A DORA incident report is due."}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class ShopApp:
    """Charges at RATE a second; `failing` makes every second one fail."""

    def __init__(self, catalog_path):
        self.mp = MoneyPath.from_catalog(catalog_path, registry=CollectorRegistry())
        self.port = free_port()
        self.server, _ = self.mp.start_metrics_server(self.port)
        self.failing, self.stopped = False, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        n = 0
        while not self.stopped.wait(1 / RATE):
            n += 1
            failed = self.failing and n % 2 == 0
            self.mp.record_authorization("komoju", "card", "error" if failed else "approved", 0.05)
            self.mp.count("charged_minor_total", 5000, currency="JPY", outcome="failed" if failed else "ok")
            if failed:
                self.mp.count("customers_affected_total")

    def stop(self):
        self.stopped.set()
        self.server.shutdown()


def classify(catalog, url, since, until, *extra):
    run = moneypath("incident", "classify", "--catalog", str(catalog), "--prometheus", url, "--since", since,
                    "--until", until, "--service", "ticket-sales", "--json", *extra, check=False)
    assert run.returncode in (0, 1, 3), run.stderr
    result = json.loads(run.stdout)
    return run.returncode, result, {c["name"]: c for c in result["services"][0]["criteria"]}


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_classify_and_the_report_clock_on_a_real_prometheus(tmp_path):
    catalog = shop_catalog(tmp_path / "moneypath.yaml", clients=True, downtime="2s")
    bare = shop_catalog(tmp_path / "no-clients.yaml", clients=False, downtime="1h")
    c = load_catalog(catalog)
    rules = tmp_path / "rules.yaml"
    rule = next(r for r in business_alert_rules(c) if r["alert"] == c.alert_name(AlertKey.INCIDENT_REPORT_DUE))
    rules.write_text(yaml.safe_dump({"groups": [{"name": "dora", "rules": [rule]}]}, sort_keys=False))
    app = ShopApp(catalog)
    state, clock_port = tmp_path / "state", free_port()
    env = {**os.environ}
    exporter = subprocess.Popen([*MONEYPATH, "incident", "clock", "serve", "--catalog", str(catalog), "--state-dir",
                                 str(state), "--port", str(clock_port)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    stop_prometheus = None
    try:
        url, stop_prometheus = start_prometheus(tmp_path / "prom", {"shop": f"127.0.0.1:{app.port}",
                                                                    "clocks": f"127.0.0.1:{clock_port}"}, [str(rules)])
        wait_for(lambda: http_ok(f"http://127.0.0.1:{clock_port}/healthz"), 30, "the clock exporter")
        wait_for(lambda: _query(url, f"count({c.metric('authorizations_total')})"), 30, "the shop's first scrape")
        scraped_from = time.time()
        # the clock: aware almost a day ago, classified now: the initial report is due at awareness + 24 h
        began = time.time()
        deadline = began + DUE_IN
        moneypath("incident", "clock", "start", "INC-42", "--aware-at", iso(deadline - 86400), "--classified-at",
                  iso(began), "--catalog", str(catalog), "--state-dir", str(state))
        deadline = int(deadline)  # the stored times are whole seconds
        wait_for(lambda: _query(url, f"{c.namespace}_{INCIDENT_METRICS['deadline']}"), 20, "the deadline scraped")
        [series] = _query(url, f"{c.namespace}_{INCIDENT_METRICS['deadline']}")
        assert series["metric"]["incident"] == "INC-42" and series["metric"]["report"] == "initial"
        assert float(series["value"][1]) == deadline
        assert not _firing(url, rule["alert"]), "ticket before its time"

        # the ticket fires TICKET_BEFORE seconds before the deadline, not after it
        wait_for(lambda: _firing(url, rule["alert"]), max(1.0, deadline - time.time()) + 5, "IncidentReportDue")
        assert time.time() < deadline, "the ticket came only after the deadline"
        [alert] = _firing(url, rule["alert"])
        assert alert["labels"]["incident"] == "INC-42" and alert["labels"]["severity"] == "ticket"
        moneypath("incident", "clock", "report", "INC-42", "initial", "--catalog", str(catalog), "--state-dir",
                  str(state))
        wait_for(lambda: not _firing(url, rule["alert"]), 15, "the ticket to resolve once the report is recorded")

        # meanwhile the shop charged for more than dora.daily_average_over (10 s): the baseline is held
        time.sleep(max(0.0, scraped_from + 12 - time.time()))
        incident_start = time.time()
        app.failing = True
        time.sleep(6)
        app.failing = False
        incident_end = time.time()

        time.sleep(6)  # the recovery window: 4 s rates clear, then healthy traffic
        code, result, crit = classify(catalog, url, iso(incident_start), iso(incident_end + 2),
                                      *[f"--assess={n}=not-met" for n in ("counterparts", "relevant_clients")],
                                      "--record", "INC-42", "--state-dir", str(state))
        assert (code, result["result"]) == (1, "major"), result
        assert crit["transactions_share"]["status"] == "met" and crit["value_share"]["status"] == "met", crit
        assert crit["clients"]["status"] == "met" and crit["downtime"]["status"] == "met"
        assert crit["duration"]["status"] == "not met" and "shop_authorizations_total" in crit["critical_service"]["query"]
        assert "JPY" in crit["value_share"]["figures"]

        recovered = time.time()
        code, result, crit = classify(catalog, url, iso(recovered - 4), iso(recovered))
        assert (code, result["result"]) == (0, "not major"), result
        assert crit["critical_service"]["status"] == "not met" and crit["transactions_share"]["status"] == "not met"
        assert crit["downtime"]["status"] == "not met"

        code, result, crit = classify(bare, url, iso(incident_start), iso(incident_end + 2))
        assert (code, result["result"]) == (3, "not measured"), result
        assert crit["clients"]["status"] == "not measured" and "no counter" in crit["clients"]["figures"]
        assert crit["transactions_share"]["status"] == "met" and crit["downtime"]["status"] == "not met"
        assert "could still make it major" in result["services"][0]["reason"]
    finally:
        app.stop()
        stop_process(exporter)
        if stop_prometheus:
            stop_prometheus()


def _query(url: str, q: str) -> list:
    return httpx.get(f"{url}/api/v1/query", params={"query": q}, timeout=5).json()["data"]["result"]


def _firing(url: str, name: str) -> list:
    alerts = httpx.get(f"{url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [a for a in alerts if a["labels"].get("alertname") == name and a["state"] == "firing"]
