"""`moneypath loadtest` on the Django shop (tests/foreign/djangoshop), unchanged, through the CLI only: a project
from `moneypath init`, a locustfile whose user names the shop's three-step GraphQL checkout template
(tests/foreign/drills/requests/djangoshop.yaml) and nothing else. Healthy, the Locust gates pass, with rates per
checkout and per step; with both providers declining, every checkoutComplete still answers HTTP 200, and the
failure-ratio gate fails on the checkouts, the reason (step and GraphQL error) counted. Two runs of 8 s."""

from __future__ import annotations

import json

import pytest

from moneypath import cli
from tests.conftest import ROOT
from tests.docs_examples import code_block
from tests.support.djangoshop import running_shop

pytestmark = pytest.mark.integration
TEMPLATE = ROOT / "tests" / "foreign" / "drills" / "requests" / "djangoshop.yaml"
# docs/load-tests.md, "A checkout of several calls": the shop's locustfile, naming the template beside the drills
PAGE, HEADING = "docs/load-tests.md", "A checkout of several calls: a flow"
REASON = "checkoutComplete: data.checkoutComplete.errors is not empty (PAYMENT_ERROR)"


@pytest.fixture(scope="module")
def shop(pg_server, tmp_path_factory):
    name = pg_server.create_database()
    try:
        with running_shop(pg_server.url(name), tmp_path_factory.mktemp("djangoshop")) as shop:
            yield shop
    finally:
        pg_server.drop_database(name)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("djshop") / "ops"
    assert cli.main(["init", str(root), "--service", "djshop", "--providers", "paystack,mollie", "--currencies",
                     "EUR,KWD", "--routes", "/graphql/", "--oncall", "shop-oncall"]) == 0
    (root / "loadtests" / "locustfile.py").write_text(code_block(PAGE, HEADING, "python"))
    (root / "runbooks" / "drills" / "requests" / "djangoshop.yaml").write_text(TEMPLATE.read_text())
    # the shop authorizes and creates the order in one step: its team's SLO is 1 s, not init's 300 ms default
    catalog = root / "moneypath.yaml"
    text = catalog.read_text()
    assert "latency: {signal: authorization_duration_seconds, under: 0.3}" in text
    catalog.write_text(text.replace("authorization_duration_seconds, under: 0.3}", "authorization_duration_seconds, "
                                    "under: 1.0}"))
    return root


def loadtest(project, shop, out) -> tuple[int, dict]:
    code = cli.main(["loadtest", "checkout", "--catalog", str(project / "moneypath.yaml"), "--locustfile",
                     str(project / "loadtests" / "locustfile.py"), "--host", shop.url, "--no-auth", "--no-prometheus",
                     "--rate", "3", "--users", "3", "--duration", "8", "--state-dir", str(out / "state"),
                     "--out", str(out / "reports")])
    (report,) = [p for p in (out / "reports").iterdir() if not p.name.startswith(".")]
    return code, json.loads((report / "result.json").read_text())


def gate(result: dict, name: str) -> dict:
    return next(g for g in result["gates"] if g["name"] == name)


def test_healthy_checkouts_pass_and_a_decline_inside_200s_fails_the_flow_gate(shop, project, tmp_path):
    code, healthy = loadtest(project, shop, tmp_path / "healthy")
    loc = healthy["locust"]
    assert code == 0, [g for g in healthy["gates"] if g["status"] == "fail"]
    assert gate(healthy, "failure_ratio_locust")["status"] == "pass" and loc["flow_failures"] == 0
    assert loc["flows"] >= 10 and 1.5 < loc["flow_rps"] < 4, loc["flow_rps"]  # --rate 3: checkouts per second
    steps: dict[str, float] = {}  # step → requests/s over both providers' rows
    for row in (r for r in loc["by_name"] if r["method"] == "POST"):
        steps[row["name"].split(" [")[0]] = steps.get(row["name"].split(" [")[0], 0.0) + row["rps"]
    assert set(steps) == {"checkoutCreate", "checkoutPaymentCreate", "authorize:checkoutComplete"}
    assert all(abs(rps - loc["flow_rps"]) < 0.5 for rps in steps.values()), (steps, loc["flow_rps"])
    assert gate(healthy, "p99_latency_locust")["status"] == "pass"
    assert loc["authorize_p99_ms"] is not None and loc["authorize_rps"] == pytest.approx(loc["flow_rps"], rel=0.2)

    for provider in ("paystack", "mollie"):
        shop.fault(provider, "decline")
    try:
        code, declined = loadtest(project, shop, tmp_path / "declined")
    finally:
        for provider in ("paystack", "mollie"):
            shop.fault(provider, "none")
    loc = declined["locust"]
    failed = gate(declined, "failure_ratio_locust")
    assert code == 1 and failed["status"] == "fail", failed
    assert loc["flows"] >= 10 and loc["flow_failures"] == loc["flows"]
    assert REASON in failed["reason"], failed["reason"]
    assert sum(loc["flow_failure_reasons"].values()) == loc["flows"]
    assert all(reason.endswith(REASON) for reason in loc["flow_failure_reasons"]), loc["flow_failure_reasons"]
    assert loc["failures"] == loc["flows"]  # HTTP failures are the failed steps only: every answer was a 200
