"""The Django shop's paystack outage pages its on-call, through moneypath's CLI alone, as its team would run it:
its committed project (tests/foreign/djangoshop/ops, `moneypath init`'s) checked with `build --check` and `lint`;
the shop on 2 uvicorn workers and a Celery prefork worker (the harness); `moneypath faultproxy` in front of
paystack alone; `moneypath up --target` on the web's /metrics and the worker's metrics port, rules compressed
60x; three-step GraphQL checkouts driven; an `error_rate` fault set with a `moneypath token`. The catalog's
provider-outage alert pages within its deadline, computed from the running stack: the compressed rule's `for:`
plus its longest range, one scrape and one evaluation interval, and Alertmanager's longest group_wait. Prometheus
shows the GraphQL operations by name from the web and the captures from the worker."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import subprocess
import threading
import time

import httpx
import pytest
import yaml

from moneypath.catalog.conventions import AlertKey
from tests.conftest import free_port, http_ok, stop_process, wait_for
from tests.foreign.harness import MONEYPATH, moneypath
from tests.support.djangoshop import FOREIGN, running_shop

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

OPS = FOREIGN / "djangoshop" / "ops"
CATALOG = OPS / "moneypath.yaml"
OPERATIONS = ("CheckoutCreate", "CheckoutPaymentCreate", "CheckoutComplete")
DOCUMENT = """
mutation CheckoutCreate($lines: [CheckoutLineInput!]!, $currency: String!, $email: String!) {
  checkoutCreate(lines: $lines, currency: $currency, email: $email) { checkout { id total { amount } } errors { code } }
}
mutation CheckoutPaymentCreate($checkoutId: ID!, $provider: String!, $amount: Decimal!) {
  checkoutPaymentCreate(checkoutId: $checkoutId, provider: $provider, amount: $amount) { payment { id } errors { code } }
}
mutation CheckoutComplete($checkoutId: ID!) {
  checkoutComplete(checkoutId: $checkoutId) { order { id } errors { code } }
}
"""
# paystack two checkouts in three (its outage needs 10 calls in the compressed 5 s window), in three exponents
PLANS = (("paystack", "JPY", "1500"), ("mollie", "USD", "12.34"), ("paystack", "KWD", "2.500"))


def outage_alert() -> str:
    """The provider-outage alert's name as `moneypath build` generated it (the catalog's alert_prefix + key)."""
    rules = yaml.safe_load((OPS / "alerts" / "moneypath-alerts.yaml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]
             if r.get("alert", "").endswith(AlertKey.PROVIDER_PARTIAL_OUTAGE)}
    assert len(names) == 1, names
    return names.pop()


def checkouts(url: str, stop: threading.Event, counts: dict) -> None:
    """Three-step checkouts, about 3 a second per thread, until stopped."""
    with httpx.Client(timeout=10) as client:
        for provider, currency, price in itertools.cycle(PLANS):
            if stop.is_set():
                return
            started = time.monotonic()
            try:
                def op(name, **variables):
                    answer = client.post(f"{url}/graphql/", json={"query": DOCUMENT, "operationName": name,
                                                                  "variables": variables})
                    return next(iter(answer.json()["data"].values()))

                made = op("CheckoutCreate", lines=[{"sku": "TEE", "quantity": 1, "unitPrice": price}],
                          currency=currency, email="buyer@example.com")["checkout"]
                op("CheckoutPaymentCreate", checkoutId=made["id"], provider=provider, amount=made["total"]["amount"])
                done = op("CheckoutComplete", checkoutId=made["id"])
                counts["orders" if done["order"] else "refused"] += 1
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                counts["failed"] += 1
            time.sleep(max(0.0, 0.33 - (time.monotonic() - started)))


def query(prom: str, expr: str) -> list[dict]:
    return httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=5).json()["data"]["result"]


def values(prom: str, expr: str, by: str) -> dict[str, float]:
    return {r["metric"].get(by, ""): float(r["value"][1]) for r in query(prom, expr)}


def page_deadline(prom: str, alertmanager: str, alert: str) -> tuple[float, str]:
    """Seconds from the fault to the page at most, from what the stack runs: (deadline, how it adds up)."""
    groups = httpx.get(f"{prom}/api/v1/rules", params={"type": "alert"}, timeout=5).json()["data"]["groups"]
    rule = next(r for g in groups for r in g["rules"] if r["name"] == alert and r["labels"].get("reason") == "error_ratio")
    longest = max(int(s) for s in re.findall(r"\[(\d+)s\]", rule["query"]))
    config = yaml.safe_load(httpx.get(f"{prom}/api/v1/status/config", timeout=5).json()["data"]["yaml"])["global"]
    scrape, evaluation = (float(config[k].rstrip("s")) for k in ("scrape_interval", "evaluation_interval"))
    routing = httpx.get(f"{alertmanager}/api/v2/status", timeout=5).json()["config"]["original"]
    group_wait = max(float(s) for s in re.findall(r"group_wait: (\d+)s", routing))
    deadline = rule["duration"] + longest + scrape + evaluation + group_wait
    return deadline, (f"for {rule['duration']:g} s + range {longest} s + scrape {scrape:g} s + evaluation "
                      f"{evaluation:g} s + group_wait {group_wait:g} s")


def test_a_paystack_outage_through_the_fault_proxy_pages_the_shops_oncall(tmp_path):
    moneypath("build", "--root", str(OPS), "--check")
    assert "no problems" in moneypath("lint", "--root", str(OPS)).stdout
    alert = outage_alert()

    secret = secrets.token_hex(24)
    proxy_port, started = free_port(), []
    proxy = f"http://127.0.0.1:{proxy_port}"
    state = tmp_path / "stack"

    def through_the_proxy(providers: dict[str, str]) -> dict[str, str]:
        with open(tmp_path / "faultproxy.log", "wb") as log:
            started.append(subprocess.Popen(
                [*MONEYPATH, "faultproxy", "--catalog", str(CATALOG), "--port", str(proxy_port), "--enable-faults",
                 "--upstream", f"paystack={providers['paystack']}"],
                env={**os.environ, "MONEYPATH_TOKEN_SECRET": secret}, stdout=log, stderr=subprocess.STDOUT))
        wait_for(lambda: http_ok(f"{proxy}/healthz"), 30, "the fault proxy to start")
        return {"paystack": f"{proxy}/paystack"}  # mollie is called directly

    stop, counts, loaders = threading.Event(), {"orders": 0, "refused": 0, "failed": 0}, []
    try:
        with running_shop(f"sqlite:///{tmp_path / 'shop.db'}", tmp_path / "shop", route=through_the_proxy) as shop:
            web = shop.url.removeprefix("http://")
            up = moneypath("up", "--catalog", str(CATALOG), "--state-dir", str(state), "--target", web,
                           "--target", shop.worker_metrics, "--fast", "--time-factor", "60", timeout=180)
            urls = dict(re.findall(r"(Prometheus|Alertmanager) (http://\S+?),", up.stdout))
            prom, pager = urls["Prometheus"], re.search(r"pages (http://\S+)/pages", up.stdout)[1]

            loaders[:] = [threading.Thread(target=checkouts, args=(shop.url, stop, counts), daemon=True)
                          for _ in range(2)]
            for loader in loaders:
                loader.start()
            wait_for(lambda: query(prom, f'sum(rate(shop_provider_requests_total{{provider="paystack",'
                                         f'operation="authorize",instance="{web}"}}[5s])) > 2'), 60,
                     "paystack authorizations to flow")
            wait_for(lambda: query(prom, f'sum(shop_provider_requests_total{{operation="capture",outcome="success",'
                                         f'instance="{shop.worker_metrics}"}}) > 0'), 30, "the worker's captures")
            assert httpx.get(f"{pager}/pages", timeout=5).json() == []  # a healthy shop pages nobody
            deadline, why = page_deadline(prom, urls["Alertmanager"], alert)

            token = moneypath("token", "--scope", "admin:faults", "--ttl", "5m",
                              env={"MONEYPATH_TOKEN_SECRET": secret}).stdout.strip()
            fault = httpx.put(f"{proxy}/admin/faults/error_rate", headers={"Authorization": f"Bearer {token}"},
                              json={"provider": "paystack", "rate": 1, "duration_s": 120}, timeout=5)
            failed_at = time.time()
            assert fault.status_code == 200, fault.text

            def paged():
                firing = httpx.get(f"{pager}/pages", params={"status": "firing", "alertname": alert},
                                   timeout=5).json()
                return [p for p in firing if p["labels"].get("provider") == "paystack"]

            pages = wait_for(paged, deadline + 30, f"{alert}{{provider=paystack}} to page", interval_s=0.5)
            after = min(p["received_at"] for p in pages) - failed_at
            print(f"\npaystack fails → {alert} paged in {after:.1f} s (deadline {deadline:g} s = {why})")
            assert after <= deadline, f"paged {after:.1f} s after the fault, deadline {deadline:g} s ({why})"
            assert {p["receiver"] for p in pages} == {"shop-oncall"}

            # The web's GraphQL operations by name; the refused completions are "rejected", not errors.
            operations = f'sum by (operation, outcome) (shop_graphql_operations_total{{instance="{web}"}}) > 0'
            seen = {(r["metric"]["operation"], r["metric"]["outcome"]) for r in query(prom, operations)}
            assert {(op, "ok") for op in OPERATIONS} | {("CheckoutComplete", "rejected")} <= seen, seen
            assert not {op for op, _ in seen} - set(OPERATIONS), seen
            # The captures are the worker's: its own target counts them, the web none.
            captures = 'sum by (instance) (shop_provider_requests_total{operation="capture",outcome="success"})'
            by_instance = values(prom, captures, "instance")
            assert by_instance[shop.worker_metrics] > 0 and by_instance[web] == 0, by_instance
            errors = values(prom, "sum by (instance) (shop_instrumentation_errors_total)", "instance")
            assert set(errors.values()) == {0.0}, errors
            assert counts["orders"] > 0 and counts["refused"] > 0 and counts["failed"] == 0, counts
    finally:
        stop.set()
        for loader in loaders:
            loader.join(timeout=15)
        moneypath("down", "--state-dir", str(state), check=False, timeout=60)
        for proc in started:
            stop_process(proc)
