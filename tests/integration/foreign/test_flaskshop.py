"""The Flask shop (tests/foreign/flaskshop: the ticket shop's API in Flask, SQLAlchemy on SQLite, its providers
called with `requests`, instrumented from docs/instrumenting.md alone) under gunicorn, 2 gthread workers with a
multi-process directory, its catalog from `moneypath init --routes ...`, behind `moneypath faultproxy`, scraped by
the local stack (rules 60x): the ticket shop's KNET outage drill passes on it unchanged but shortened, and a short
load test of the team's locustfile passes every gate; the shop's own /metrics counts no instrumentation error and
names its requests by the catalog's routes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from moneypath import cli
from tests.conftest import ROOT, SHOP_INIT_ARGS
from tests.foreign.harness import _pythonpath, moneypath, shop

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]
FOREIGN = ROOT / "tests" / "foreign"
SECRET = "flask-drill-secret-" + "x" * 16


def gunicorn(tmp_path):
    def serve(port: int, env: dict) -> subprocess.Popen:
        (tmp_path / "metrics").mkdir()
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "tests/foreign/flaskshop/gunicorn.conf.py", "-w", "2", "-k",
             "gthread", "--threads", "4", "-b", f"127.0.0.1:{port}", "tests.foreign.flaskshop.app:app"],
            cwd=ROOT, stderr=open(tmp_path / "gunicorn.log", "wb"),
            env={**os.environ, "PYTHONPATH": _pythonpath(), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
                 "SHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}", **env})
    return serve


def shortened(project, name: str) -> str:
    """The ticket shop's KNET drill with a shorter baseline and fault (the CI budget), nothing else changed."""
    doc = yaml.safe_load((FOREIGN / "drills" / "knet-partial-outage.yaml").read_text())
    doc["load"]["baseline"] = "10s"
    doc["fault"]["duration"] = "30s"
    path = project / "runbooks" / "drills" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def samples(url: str) -> dict[tuple, float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_a_drill_and_a_load_test_pass_on_the_flask_shop(tmp_path, capsys):
    project = tmp_path / "ops"
    # the ticket shop's init, with the methods its load-test scenarios pay by; its latency SLO is the p99 gate
    args = list(SHOP_INIT_ARGS)
    args[args.index("--methods") + 1] = "card,konbini,debit"
    moneypath("init", str(project), *args)
    catalog = project / "moneypath.yaml"
    shutil.copytree(FOREIGN / "drills", project / "runbooks" / "drills", dirs_exist_ok=True)
    state = tmp_path / "stack"
    with shop(catalog, proxy_secret=SECRET, serve=gunicorn(tmp_path)) as url:
        try:
            up = moneypath("up", "--catalog", str(catalog), "--state-dir", str(state), "--target",
                           url["shop"].removeprefix("http://"), "--fast", "--time-factor", "60", timeout=180)
            stack = dict(re.findall(r"(Prometheus|Alertmanager) (http://\S+?),", up.stdout))
            pager = re.search(r"pages (http://\S+)/pages", up.stdout)[1]
            run = moneypath("drill", "run", shortened(project, "knet-outage-flask"), "--catalog", str(catalog),
                            "--reports", str(project / "reports"), "--target-service", url["shop"],
                            "--target-prometheus", stack["Prometheus"], "--target-pager", pager,
                            "--target-alertmanager", stack["Alertmanager"], "--target-faultproxy", url["faultproxy"],
                            "--time-factor", "60", "--no-history", check=False,
                            env={"MONEYPATH_TOKEN_SECRET": SECRET}, timeout=300)
            print(run.stdout[-3000:])
            assert run.returncode == 0, run.stdout[-3000:] + run.stderr + (tmp_path / "gunicorn.log").read_text()[-2000:]
            journal = json.loads(next((project / "reports").glob("knet-outage-flask-*/journal.json")).read_text())
            assert all(o["ok"] for o in journal["objectives"]), journal["objectives"]
            expected = next(r for r in journal["alerts"] if r["expectation"] == "expected")
            assert (expected["alert"], expected["labels"]) == ("ShopProviderPartialOutage", {"provider": "knet"})
            assert journal["money"]["writes_lost"] == 0 and journal["money"]["acknowledged_payments"] > 30

            code = cli.main(["loadtest", "checkout", "--locustfile", str(FOREIGN / "locustfile.py"), "--catalog",
                             str(catalog), "--host", url["shop"], "--no-auth", "--state-dir", str(state),
                             "--scenario-file", str(FOREIGN / "scenarios.yaml"), "--out", str(tmp_path / "load"),
                             "--rate", "8", "--duration", "8"])
            out, err = capsys.readouterr()
            # The shop runs no duplicate detector: its counter's 0 is not evidence, every other gate passes.
            assert code == 3, out[-3000:] + err[-3000:]
            lines = out.splitlines()
            assert any(line.startswith("checkout: NOT MEASURED: no gate failed; 1 of ") and
                       "gates not measured (zero duplicate charges)" in line for line in lines), lines[-3:]
            [gate] = [line for line in lines if line.startswith("zero duplicate charges")]
            assert "NOT MEASURED" in gate and "detector unseen" in gate, gate

            metrics = samples(url["shop"])
            errors = {labels: n for (name, labels), n in metrics.items() if name == "shop_instrumentation_errors_total"}
            assert errors and sum(errors.values()) == 0, errors  # every route it serves declared, every value too
            routes = {dict(labels)["route"] for (name, labels) in metrics if name == "shop_http_requests_total"
                      and metrics[(name, labels)] > 0}
            assert {"/charges", "/charges/{charge_id}"} <= routes, routes
        finally:
            moneypath("down", "--state-dir", str(state), check=False, timeout=60)
