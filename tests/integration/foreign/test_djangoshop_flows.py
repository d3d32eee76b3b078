"""`moneypath loadtest` on the Django shop (tests/foreign/djangoshop), unchanged, through the CLI only: a project
from `moneypath init` (no ledger: init's default), a locustfile whose user names the shop's three-step GraphQL
checkout template (tests/foreign/drills/requests/djangoshop.yaml) and nothing else, the checkout scenario with an
end-to-end flow objective (flow_p99_ms). The shop runs on that catalog. Without Prometheus the flows pass their
Locust gates, with rates and latency per checkout and per step, and the authorization latency is not measured
(a flow's authorizing step is the shop's whole call: only its histogram is the right clock): exit 3. With both
providers declining, every checkoutComplete still answers HTTP 200, and the failure-ratio gate fails on the
checkouts, the reason (step and GraphQL error) counted. With Prometheus scraping the shop, the latency gate reads
its histogram against init's 300 ms objective and the run passes, the ledger's gate skipped as off; and so it does
spread over two workers started on their own. Four runs of 8 s. And a drill's baseline and peak through `moneypath
drill run` reconcile what its checkouts sent with the shop's authorizations counter (the conservation of counts):
one authorization per three-step checkout, within the bounds, the steady state read on the counter that held."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from moneypath import cli
from moneypath.loadtest.command import gates
from tests.conftest import ROOT, free_port, http_ok, stop_process, wait_for
from tests.docs_examples import code_block
from tests.support.djangoshop import running_shop
from tests.support.prometheus_server import running_prometheus, scraping

pytestmark = pytest.mark.integration
TEMPLATE = ROOT / "tests" / "foreign" / "drills" / "requests" / "djangoshop.yaml"
# docs/load-tests.md, "A checkout of several calls": the shop's locustfile, naming the template beside the drills,
# and the checkout scenario's objective for the whole flow
PAGE, HEADING = "docs/load-tests.md", "A checkout of several calls: a flow"
REASON = "checkoutComplete: data.checkoutComplete.errors is not empty (PAYMENT_ERROR)"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("djshop") / "ops"
    assert cli.main(["init", str(root), "--service", "djshop", "--providers", "paystack,mollie", "--currencies",
                     "EUR,KWD", "--routes", "/graphql/", "--oncall", "shop-oncall"]) == 0
    (root / "loadtests" / "locustfile.py").write_text(code_block(PAGE, HEADING, "python"))
    (root / "runbooks" / "drills" / "requests" / "djangoshop.yaml").write_text(TEMPLATE.read_text())
    scenarios = root / "loadtests" / "scenarios.yaml"
    data = yaml.safe_load(scenarios.read_text())
    for name, fields in yaml.safe_load(code_block(PAGE, HEADING, "yaml"))["scenarios"].items():
        data["scenarios"][name].update(fields)
    scenarios.write_text(yaml.safe_dump(data, sort_keys=False))
    # init's own latency objective (300 ms): the service's histogram times the provider's authorization alone
    assert "latency: {signal: authorization_duration_seconds, under: 0.3}" in (root / "moneypath.yaml").read_text()
    return root


@pytest.fixture(scope="module")
def shop(pg_server, project, tmp_path_factory):
    name = pg_server.create_database()
    try:
        with running_shop(pg_server.url(name), tmp_path_factory.mktemp("djangoshop"),
                          catalog=project / "moneypath.yaml") as shop:
            yield shop
    finally:
        pg_server.drop_database(name)


def loadtest(project, shop, out, *prometheus: str, more: tuple[str, ...] = ()) -> tuple[int, dict]:
    code = cli.main(["loadtest", "checkout", "--catalog", str(project / "moneypath.yaml"), "--locustfile",
                     str(project / "loadtests" / "locustfile.py"), "--host", shop.url, "--no-auth",
                     *(prometheus or ["--no-prometheus"]), "--rate", "3", "--users", "3", "--duration", "8",
                     "--state-dir", str(out / "state"), "--out", str(out / "reports"), *more])
    (report,) = [p for p in (out / "reports").iterdir() if not p.name.startswith(".")]
    return code, json.loads((report / "result.json").read_text())


def gate(result: dict, name: str) -> dict:
    return next(g for g in result["gates"] if g["name"] == name)


def test_healthy_checkouts_pass_and_a_decline_inside_200s_fails_the_flow_gate(shop, project, tmp_path):
    code, healthy = loadtest(project, shop, tmp_path / "healthy")
    loc = healthy["locust"]
    # without Prometheus nothing measures a flow's authorization: no gate failed, the verdict rests on that
    assert code == 3, [g for g in healthy["gates"] if g["status"] in ("fail", "not measured")]
    assert healthy["verdict"] == "not measured" and healthy["rate_unit"] == "flows/s"
    latency = gate(healthy, "p99_latency_prometheus")
    assert latency["status"] == "not measured" and "--no-prometheus" in latency["reason"], latency
    assert [g["name"] for g in healthy["gates"] if g["status"] == "not measured"] == ["p99_latency_prometheus"]
    assert gate(healthy, "p99_latency_locust")["reason"] == gates.FLOW_LATENCY
    assert gate(healthy, "failure_ratio_locust")["status"] == "pass" and loc["flow_failures"] == 0
    objective = gate(healthy, "flow_p99_locust")  # the whole checkout, on Locust's clock
    assert objective["status"] == "pass" and objective["limit"] == "<= 3000 ms (flow_p99_ms)", objective
    steps = {row["step"]: row for row in loc["steps"]}
    assert list(steps) == ["checkoutCreate", "checkoutPaymentCreate", "authorize:checkoutComplete", "FLOW checkout"]
    assert steps["FLOW checkout"]["p99_ms"] == loc["flow_p99_ms"] >= steps["authorize:checkoutComplete"]["p99_ms"]
    assert loc["flows"] >= 10 and 1.5 < loc["flow_rps"] < 4, loc["flow_rps"]  # --rate 3: checkouts per second
    steps: dict[str, float] = {}  # step → requests/s over both providers' rows
    for row in (r for r in loc["by_name"] if r["method"] == "POST"):
        steps[row["name"].split(" [")[0]] = steps.get(row["name"].split(" [")[0], 0.0) + row["rps"]
    assert set(steps) == {"checkoutCreate", "checkoutPaymentCreate", "authorize:checkoutComplete"}
    assert all(abs(rps - loc["flow_rps"]) < 0.5 for rps in steps.values()), (steps, loc["flow_rps"])
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


def test_with_prometheus_a_flows_authorization_latency_is_read_from_the_shops_histogram(shop, project, tmp_path):
    web = shop.url.removeprefix("http://")
    with running_prometheus(tmp_path / "prometheus", scraping({"shop": web, "worker": shop.worker_metrics})) as prom:
        code, result = loadtest(project, shop, tmp_path / "observed", "--prometheus", prom)
    latency = gate(result, "p99_latency_prometheus")
    assert code == 0, [g for g in result["gates"] if g["status"] in ("fail", "not measured")]
    assert (latency["source"], latency["status"], latency["limit"]) == ("prometheus", "pass", "<= 300 ms"), latency
    assert result["prometheus_observations"]["authorizations"] >= 10  # the shop's own count of the run
    assert gate(result, "ledger_balanced")["reason"] == "feature ledger is off"
    assert {gate(result, name)["status"] for name in ("failure_ratio_prometheus", "duplicate_charges")} == {"pass"}


def test_the_flow_run_spread_over_two_workers_started_elsewhere_passes_alike(shop, project, tmp_path):
    """The same run with the master bound to a loopback port and two `moneypath loadtest-worker` processes of their
    own, each given the project's locustfile (its scenario file beside it): both admitted, the checkouts carried at
    the asked 3 flows/s between them, and the same verdict as one process gives, with Prometheus."""
    address = f"127.0.0.1:{free_port()}"
    workers = [subprocess.Popen([str(Path(sys.executable).parent / "moneypath"), "loadtest-worker", "--master", address,
                                 "--locustfile", str(project / "loadtests" / "locustfile.py"), "--wait-master", "60"],
                                cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(2)]
    web = shop.url.removeprefix("http://")
    try:
        with running_prometheus(tmp_path / "prometheus", scraping({"shop": web, "worker": shop.worker_metrics})) as prom:
            code, result = loadtest(project, shop, tmp_path / "spread", "--prometheus", prom,
                                    more=("--workers", "2", "--bind", address, "--wait-workers", "60"))
        said = [w.communicate(timeout=60)[0] for w in workers]
    finally:
        for w in workers:
            stop_process(w)
    assert [w.returncode for w in workers] == [0, 0], said
    assert code == 0, [g for g in result["gates"] if g["status"] in ("fail", "not measured")]
    assert result["workers"] == 2 and result["rate_unit"] == "flows/s"
    loc = result["locust"]
    assert loc["flows"] >= 10 and 1.5 < loc["flow_rps"] < 4 and loc["flow_failures"] == 0, loc["flow_rps"]
    assert gate(result, "p99_latency_prometheus")["status"] == "pass"


# A drill of a baseline and a short peak, no fault: what the conservation of counts reads on a flow of three calls.
CALM_DRILL = """\
title: Checkouts at baseline and a short peak
runbook: ProviderPartialOutage
load:
  rate: 4
  baseline: 8s
  capture: 0
  providers: {paystack: 1, mollie: 1}
  currencies: {EUR: 1}
  amounts: {min: 500, max: 5000}
  requests: requests/djangoshop.yaml
  peak: {rate: 6, duration: 5s}
if_not_measured: {captured_once: pass, refunds_within_captures: pass, duplicates: pass}
steady_state_within: 10s
steady_state:
  - name: checkouts authorized
    promql: sum(rate(djshop_authorizations_total[10s]))
    expect: {min: 1}
alerts:
  must_not_page: ["*"]
diagnosis:
  within: 5s
  steps:
    - step: the alert's own condition (reason=error_ratio)
      if_not_measured: pass
      expect: {below: 0.05}
mitigation:
  clear_fault: true
tabletop:
  narrative: A quiet afternoon of checkouts.
  roles:
    engineering: {checkpoint: "Read the checkout rate.", due: 10m}
    operations: {checkpoint: "Nothing to decide.", due: 20m}
    compliance: {checkpoint: "Nothing to classify.", due: 60m}
    customer_support: {checkpoint: "Nothing to tell.", due: 30m}
"""


def test_a_drills_checkouts_reconcile_with_the_shops_counter(shop, project, tmp_path):
    """Each checkout is one authorization on the counter (only checkoutComplete's attempts count): the baseline and
    the peak reconcile within the bounds on the shop's address, the ratio near 1."""
    (project / "runbooks" / "drills" / "calm.yaml").write_text(CALM_DRILL)
    pager_port = free_port()
    pager = subprocess.Popen([str(Path(sys.executable).parent / "moneypath"), "pager", "--port", str(pager_port)],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    web = shop.url.removeprefix("http://")
    try:
        with running_prometheus(tmp_path / "prometheus", scraping({"shop": web})) as prom:
            wait_for(lambda: http_ok(f"http://127.0.0.1:{pager_port}/pages"), 20, "the pager")
            code = cli.main(["drill", "run", str(project / "runbooks" / "drills" / "calm.yaml"), "--catalog",
                             str(project / "moneypath.yaml"), "--reports", str(tmp_path / "reports"), "--no-history",
                             "--target-service", shop.url, "--target-prometheus", prom, "--target-pager",
                             f"http://127.0.0.1:{pager_port}", "--time-factor", "60"])
    finally:
        stop_process(pager)
    [journal] = [json.loads(p.read_text()) for p in (tmp_path / "reports").glob("*/journal.json")]
    records = {r["phase"]: r for r in journal["conservation"]}
    assert set(records) == {"baseline", "peak"}, (code, journal["conservation"])
    for phase, record in records.items():
        figures = record["figures"]
        assert (record["status"], record["target"]) == ("pass", web), record
        assert figures["acknowledged"] >= 15 and 0.8 <= figures["ratio"] <= 1.0, (phase, figures)
        assert figures["acknowledged_by_outcome"] == {"approved": figures["acknowledged"]}  # AUTHORIZED: approved
        # one authorization per checkout of three calls: the counter saw no more than the flows' authorizing steps
        assert figures["acknowledged"] <= figures["counted"] <= figures["sent"]
    steady = next(o for o in journal["objectives"] if o["name"] == "steady_state_before")
    assert steady["status"] == "pass", steady
