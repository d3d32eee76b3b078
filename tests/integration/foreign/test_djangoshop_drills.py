"""The Django shop's two drills, through moneypath's CLI alone, as its team would run them: the shop "authorize
only" (PAYMENT_CAPTURE=manual) on 2 uvicorn workers and a Celery worker (the harness), `moneypath faultproxy` in
front of Paystack, `moneypath up --target` on the web and the worker, rules 60x; then `moneypath drill run` on
each committed drill (ops/runbooks/drills: three-mutation checkouts, no shim) with `--db-url` on the shop's
SQLite. A Paystack outage pages ProviderPartialOutage and keeps the money (payments stored, captured once,
refunds within captures, each measured); Paystack capturing twice pages DuplicateChargeDetected, and the
"captured once" check reads the duplicate on the shop's copy of Paystack's records (provider_captures), naming
an order Paystack really captured twice. No ledger check anywhere: the shop has none."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess

import httpx
import pytest

from tests.conftest import free_port, http_ok, stop_process, wait_for
from tests.foreign.harness import MONEYPATH, moneypath
from tests.support.djangoshop import FOREIGN, running_shop

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

OPS = FOREIGN / "djangoshop" / "ops"
CATALOG = OPS / "moneypath.yaml"
DRILLS = OPS / "runbooks" / "drills"
MONEY_CHECKS = ("acknowledged payments and", "acknowledged captures found once", "refunds within the capture")
ORDER = "query Order($id: ID!) { order(id: $id) { payment { provider pspReference } } }"


def drill(name: str, stack: dict, reports, db: str, env: dict) -> tuple[subprocess.CompletedProcess, dict, str]:
    """`moneypath drill run` on one committed drill: (the run, its journal, its report's text)."""
    run = moneypath("drill", "run", str(DRILLS / f"{name}.yaml"), "--catalog", str(CATALOG), "--reports",
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
    assert journal["load"]["captured"] > 0 and journal["money"]["writes_lost"] == 0, journal["load"]
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
        with running_shop(f"sqlite:///{database}", tmp_path / "shop", route=through_the_proxy,
                          settings={"PAYMENT_CAPTURE": "manual"}) as shop:
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
            order = re.search(r"captured more than once \(money_checks.capture_counts\), e\.g\. (\S+) \(2 captures\)",
                              money)[1]
            payment = shop.graphql(ORDER, "Order", id=order).json()["data"]["order"]["payment"]
            assert payment["provider"] == "paystack"
            assert len(shop.charge("paystack", payment["pspReference"])["captures"]) == 2
            assert journal["fault"]["where"] == "hook" and journal["fault"]["cleared_at"]
            assert httpx.get(f"{shop.providers['paystack']}/admin/fault", timeout=5).json()["mode"] == "none"
    finally:
        moneypath("down", "--state-dir", str(state), check=False, timeout=60)
        for proc in started:
            stop_process(proc)
