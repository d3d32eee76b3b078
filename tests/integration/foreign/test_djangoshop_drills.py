"""The Django shop's drills, through moneypath's CLI alone, as its team would run them: the shop capturing every
order by itself (a Celery task once the order is committed; its drills set `load.capture: 0`) on 2 uvicorn
workers and a Celery worker (the harness), `moneypath faultproxy` in front of Paystack, `moneypath up --target`
on the web and the worker, rules 60x; then `moneypath drill run` on each committed drill (ops/runbooks/drills:
three-mutation checkouts, no shim) with `--db-url` on the shop's SQLite. A Paystack outage pages
ProviderPartialOutage and keeps the money (payments stored, captured once and refunds within captures on every
acknowledged order, each measured); Paystack capturing twice pages DuplicateChargeDetected, and the "captured
once" check reads the duplicate on the shop's copy of Paystack's records (provider_captures), naming an order
Paystack really captured twice. On the same stack: the same fault in a drill that does not expect it fails (exit
1) naming the orders, and with the capture_counts query removed from the catalog the money objective is not
measured (exit 3). No ledger check anywhere: the shop has none."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess

import httpx
import pytest
import yaml

from tests.conftest import free_port, http_ok, stop_process, wait_for
from tests.foreign.harness import MONEYPATH, moneypath
from tests.support.djangoshop import FOREIGN, running_shop

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

OPS = FOREIGN / "djangoshop" / "ops"
CATALOG = OPS / "moneypath.yaml"
DRILLS = OPS / "runbooks" / "drills"
MONEY_CHECKS = ("acknowledged payments and", "acknowledged payments found on the provider's records, none captured "
                "more than once", "refunds within the capture", "duplicates none (")
TWICE = r"captured more than once \(money_checks.capture_counts\): (\S+) \(2 captures\)"
ORDER = "query Order($id: ID!) { order(id: $id) { payment { provider pspReference } } }"


def drill(name: str, stack: dict, reports, db: str, env: dict, path=None,
          catalog=CATALOG) -> tuple[subprocess.CompletedProcess, dict, str]:
    """`moneypath drill run` on one committed drill (or the one at `path`): (the run, its journal, its report's
    text)."""
    run = moneypath("drill", "run", str(path or DRILLS / f"{name}.yaml"), "--catalog", str(catalog), "--reports",
                    str(reports), "--target-service", stack["shop"], "--target-prometheus", stack["Prometheus"],
                    "--target-pager", stack["pager"], "--target-alertmanager", stack["Alertmanager"],
                    "--target-faultproxy", stack["faultproxy"], "--db-url", db, "--time-factor", "60",
                    check=False, env=env, timeout=240)
    print(run.stdout[-2500:])
    [folder] = [p for p in reports.iterdir() if p.name.startswith(name)]
    journal = json.loads((folder / "journal.json").read_text())
    report = "\n".join(p.read_text(errors="replace") for p in folder.iterdir()
                       if p.suffix in (".md", ".html", ".txt") and p.is_file())
    return run, journal, report


def judged(run, journal: dict, report: str, alert: str) -> dict:
    """The checks every drill of the shop passes: exit 0, every objective met, the page from the catalog's
    routing, the money checks measured, and no ledger anywhere. Returns the objectives by name."""
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    objectives = {o["name"]: o for o in journal["objectives"]}
    assert all(o["ok"] is True for o in journal["objectives"]), objectives
    expected = next(r for r in journal["alerts"] if r["expectation"] == "expected")
    assert (expected["alert"], expected["labels"]) == (alert, {"provider": "paystack"}), expected
    assert "shop-oncall" in expected["receivers"]
    objectives = {o["name"]: o for o in journal["objectives"]} | {"receivers": expected["receivers"]}
    money = objectives["money_kept"]["reason"]
    assert "not measured" not in money, money
    assert "ledger_balanced" not in objectives
    assert "ledger" not in json.dumps(journal["objectives"]).lower()
    assert "ledger" not in report.lower(), [line for line in report.splitlines() if "ledger" in line.lower()]
    assert journal["load"]["captured"] == 0 and journal["money"]["writes_lost"] == 0, journal["load"]  # the shop captures
    return objectives


def test_a_paystack_outage_and_a_duplicate_capture_drill_pass_on_the_django_shop(tmp_path):
    secret, proxy_port, started = secrets.token_hex(24), free_port(), []
    proxy, state, reports = f"http://127.0.0.1:{proxy_port}", tmp_path / "stack", tmp_path / "reports"
    database = tmp_path / "shop.db"

    def through_the_proxy(providers: dict[str, str]) -> dict[str, str]:
        with open(tmp_path / "faultproxy.log", "wb") as log:
            started.append(subprocess.Popen(
                [*MONEYPATH, "faultproxy", "--catalog", str(CATALOG), "--port", str(proxy_port), "--enable-faults",
                 "--upstream", f"paystack={providers['paystack']}"],
                env={**os.environ, "MONEYPATH_TOKEN_SECRET": secret}, stdout=log, stderr=subprocess.STDOUT))
        wait_for(lambda: http_ok(f"{proxy}/healthz"), 30, "the fault proxy to start")
        return {"paystack": f"{proxy}/paystack"}

    try:
        with running_shop(f"sqlite:///{database}", tmp_path / "shop", route=through_the_proxy) as shop:
            web = shop.url.removeprefix("http://")
            up = moneypath("up", "--catalog", str(CATALOG), "--state-dir", str(state), "--target", web,
                           "--target", shop.worker_metrics, "--fast", "--time-factor", "60", timeout=180)
            stack = dict(re.findall(r"(Prometheus|Alertmanager) (http://\S+?),", up.stdout))
            stack |= {"pager": re.search(r"pages (http://\S+)/pages", up.stdout)[1], "shop": shop.url,
                      "faultproxy": proxy}
            env = {"MONEYPATH_TOKEN_SECRET": secret, "PAYSTACK_ADMIN_URL": shop.providers["paystack"]}
            db = f"sqlite:///{database}"

            run, journal, report = drill("shopproviderpartialoutage", stack, reports, db, env)
            objectives = judged(run, journal, report, "ShopProviderPartialOutage")
            assert all(check in objectives["money_kept"]["reason"] for check in MONEY_CHECKS), objectives
            assert journal["fault"]["where"] == "faultproxy" and journal["fault"]["cleared_at"]

            run, journal, report = drill("shopduplicatechargedetected", stack, reports, db, env)
            objectives = judged(run, journal, report, "ShopDuplicateChargeDetected")
            money = objectives["money_kept"]["reason"]
            assert "captured_once failed as the drill expects" in money, money
            assert {"shop-oncall", "compliance"} <= set(objectives["receivers"]), objectives["receivers"]
            # the order the check names is one Paystack's own records hold two captures for
            order = re.search(TWICE, money)[1]
            payment = shop.graphql(ORDER, "Order", id=order).json()["data"]["order"]["payment"]
            assert payment["provider"] == "paystack"
            assert len(shop.charge("paystack", payment["pspReference"])["captures"]) == 2
            assert journal["fault"]["where"] == "hook" and journal["fault"]["cleared_at"]
            assert httpx.get(f"{shop.providers['paystack']}/admin/fault", timeout=5).json()["mode"] == "none"

            # the same fault, a drill that does not expect it: captured once FAILS, naming Paystack's double captures
            run, journal, report = drill("unexpected-duplicate", stack, reports, db, env,
                                         path=variant(tmp_path, "unexpected-duplicate", "shopduplicatechargedetected"))
            assert run.returncode == 1, run.stdout[-3000:] + run.stderr
            kept = {o["name"]: o for o in journal["objectives"]}["money_kept"]
            assert kept["status"] == "fail", kept
            for order in re.findall(r"(\S+) \(2 captures\)", kept["reason"])[:2]:
                payment = shop.graphql(ORDER, "Order", id=order).json()["data"]["order"]["payment"]
                assert len(shop.charge(payment["provider"], payment["pspReference"])["captures"]) == 2
            assert re.search(TWICE, kept["reason"]), kept

            # the team's catalog without the capture_counts query: captured once cannot run, so money_kept is not
            # measured and the drill exits 3 (a short peak drill, nothing broken)
            ops = tmp_path / "ops"
            shutil.copytree(OPS, ops)
            doc = yaml.safe_load((ops / "moneypath.yaml").read_text())
            del doc["money_checks"]["capture_counts"]
            (ops / "moneypath.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
            run, journal, report = drill("no-capture-counts", stack, reports, db, env, catalog=ops / "moneypath.yaml",
                                         path=calm(ops, "no-capture-counts"))
            assert run.returncode == 3, run.stdout[-3000:] + run.stderr
            kept = {o["name"]: o for o in journal["objectives"]}["money_kept"]
            assert kept["status"] == "not measured", kept
            assert "captured once: not measured: the catalog declares no money_checks.capture_counts query" \
                in kept["reason"], kept
            assert [o["name"] for o in journal["objectives"] if o["status"] != "pass"] == ["money_kept"], journal
    finally:
        moneypath("down", "--state-dir", str(state), check=False, timeout=60)
        for proc in started:
            stop_process(proc)


def variant(tmp_path, name: str, of: str):
    """The committed drill `of` as a drill that does not expect its money check to fail (no money_expect)."""
    doc = yaml.safe_load((DRILLS / f"{of}.yaml").read_text())
    doc.pop("money_expect")
    doc["load"]["baseline"] = "8s"
    doc["load"]["requests"] = str(DRILLS / "requests" / "checkout.yaml")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def calm(ops, name: str):
    """A short drill with no fault: the outage drill's load and steady state, a 5 s peak at the same rate, every
    alert allowed (an earlier drill's may still resolve)."""
    doc = yaml.safe_load((ops / "runbooks" / "drills" / "shopproviderpartialoutage.yaml").read_text())
    for key in ("fault", "mitigation", "recovery", "controls"):
        doc.pop(key, None)
    rules = yaml.safe_load((ops / "alerts" / "moneypath-alerts.yaml").read_text())
    names = sorted({r["alert"] for g in rules["groups"] for r in g["rules"] if r["labels"]["severity"] != "none"})
    doc["alerts"] = {"allowed": [n for n in names if not n.endswith("Watchdog")]}
    doc["load"] |= {"baseline": "8s", "peak": {"rate": doc["load"]["rate"], "duration": "5s"}}
    doc["diagnosis"] = {"within": "5s", "steps": [{"step": doc["diagnosis"]["steps"][0]["step"],
                                                   "expect": [{"rows_min": 0}], "if_not_measured": "pass"}]}
    path = ops / "runbooks" / "drills" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
