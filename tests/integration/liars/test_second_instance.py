"""The liar: a second instance scraped instead of the target. Two ticket shops (tests/foreign) on two ports share the
providers behind one fault proxy; a real Prometheus scrapes only the second; `moneypath drill run --target-service`
names the first. A fault through the shared provider would page from the second shop's series and read PASS. The
drill refuses before anything is broken: exit 2, one line naming the address driven, the identity it answered as,
and the one Prometheus scrapes; no fault set, no journal, no verdict. `moneypath loadtest --host` the first is
refused the same way before Locust starts."""

from __future__ import annotations

import shutil

import httpx
import pytest

from moneypath.catalog.conventions import INSTANCE_HEADER, INSTANCE_ID_LABEL, INSTANCE_INFO
from moneypath.check.scraped_identity import describe
from moneypath.protocol.tokens import issue
from tests.conftest import ROOT, free_port, http_ok, stop_process, wait_for
from tests.foreign.harness import PROVIDERS, init_project, moneypath, shop, uvicorn
from tests.support.prometheus_server import running_prometheus, scraping

pytestmark = pytest.mark.integration
SECRET = "liar-second-instance-" + "x" * 16


def identity_of(url: str) -> str:
    return httpx.get(f"{url}/healthz", timeout=5).headers[INSTANCE_HEADER]


def scraped(prometheus: str, namespace: str) -> set[str]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": f"{namespace}_{INSTANCE_INFO}"}, timeout=5)
    return {s["metric"][INSTANCE_ID_LABEL] for s in answer.json()["data"]["result"]}


def test_a_drill_on_an_instance_prometheus_does_not_scrape_is_refused_before_the_fault(tmp_path):
    catalog = init_project(tmp_path / "ops")
    drill = tmp_path / "ops" / "runbooks" / "drills" / "knet-partial-outage.yaml"
    shutil.copytree(ROOT / "tests" / "foreign" / "drills", drill.parent, dirs_exist_ok=True)
    with shop(catalog, proxy_secret=SECRET) as url:
        second_port = free_port()
        second = f"http://127.0.0.1:{second_port}"
        providers = ",".join(f"{p}={url['faultproxy']}/{p}" for p in PROVIDERS)  # the same providers, shared
        proc = uvicorn("tests.foreign.ticketshop:app", second_port, {"SHOP_CATALOG": str(catalog),
                                                                     "SHOP_PROVIDERS": providers})
        try:
            wait_for(lambda: http_ok(f"{second}/healthz"), 30, "the second shop to start")
            first_id, second_id = identity_of(url["shop"]), identity_of(second)
            assert first_id != second_id
            config = scraping({"shop": second.removeprefix("http://")})
            with running_prometheus(tmp_path / "prometheus", config) as prometheus:
                wait_for(lambda: second_id in scraped(prometheus, "shop"), 20, "Prometheus to scrape the second shop")
                run = moneypath("drill", "run", str(drill), "--catalog", str(catalog),
                                "--reports", str(tmp_path / "reports"), "--target-service", url["shop"],
                                "--target-prometheus", prometheus, "--target-pager", "http://127.0.0.1:9",
                                "--target-faultproxy", url["faultproxy"], "--time-factor", "60", check=False,
                                env={"MONEYPATH_TOKEN_SECRET": SECRET}, timeout=60)
                first_address, second_address = url["shop"].removeprefix("http://"), second.removeprefix("http://")
                line = (f"moneypath drill: {first_address} answered as {describe(first_id)}; Prometheus scrapes only "
                        f"{describe(second_id)} at {second_address}: the drill would read another instance's metrics")
                print(run.stdout[-2000:], run.stderr[-2000:])
                assert run.returncode == 2, run.stdout + run.stderr
                assert line in run.stderr.splitlines(), run.stderr
                assert "preflight: authorize" in run.stdout  # the one payment before the check, nothing after it
                assert "PASS" not in run.stdout and "verdict" not in run.stdout
                admin = issue(SECRET.encode(), "t", ["admin:faults"], ttl_s=60)
                faults = httpx.get(f"{url['faultproxy']}/admin/faults", timeout=5,
                                   headers={"Authorization": f"Bearer {admin}"}).json()["faults"]
                assert not faults, faults  # nothing was broken
                assert not list((tmp_path / "reports").glob("**/journal.json"))

                # the load test on the same two shops (the shop's own catalog, which its scenarios are written
                # against; the same namespace): refused before Locust starts, nothing sent
                foreign = ROOT / "tests" / "foreign"
                load = moneypath("loadtest", "checkout", "--locustfile", str(foreign / "locustfile.py"), "--catalog",
                                 str(foreign / "moneypath.yaml"), "--host", url["shop"], "--no-auth",
                                 "--prometheus", prometheus,
                                 "--scenario-file", str(foreign / "scenarios.yaml"), "--out", str(tmp_path / "load"),
                                 "--rate", "8", "--duration", "8", "--state-dir", str(tmp_path / "state"),
                                 check=False, timeout=60)
                print(load.stdout[-2000:], load.stderr[-2000:])
                assert load.returncode == 2, load.stdout + load.stderr
                assert line.replace("moneypath drill: ", "").replace("the drill", "the load test") in load.stderr
                assert "every gate passed" not in load.stdout and not list((tmp_path / "load").glob("*/result.json"))
        finally:
            stop_process(proc)
