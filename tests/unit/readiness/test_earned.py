"""Readiness is earned: an alert whose pages reach no delivery (the receivers `moneypath init` writes have none)
is not ready, nor one whose drill's latest run failed after a pass; the CLI, the exported series and the evidence
pack's control map say the same."""

from __future__ import annotations

import time

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS
from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import READINESS_METRICS
from moneypath.check.rehearsals import paging_alerts, readiness
from moneypath.cli import main
from moneypath.readiness.control_map import control_status
from moneypath.readiness.gauges import HistoryView, registry
from tests.conftest import CATALOG_PATH, ROOT
from tests.support import drill_history as h

SHOP = ("--service", "tickets", "--providers", "komoju,knet", "--currencies", "JPY,KWD", "--features",
        "cost,idempotency,ledger", "--methods", "card,konbini", "--routes", "/charges,/charges/{charge_id}")
DELIVERY = ", pagerduty: {routing_key_file: /etc/alertmanager/secrets/pagerduty}}\n"  # closes the receiver's {


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("ops") / "ops"
    assert main(["init", str(root), *SHOP]) == 0
    return root


def _last_pass(view) -> dict[str, float]:
    text = generate_latest(registry(view)).decode()
    return {s.labels["alert"]: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == READINESS_METRICS["last_pass"]}


def _all_passed(history_dir, names, when: float) -> None:
    h.write(history_dir, [h.run("all", when, [h.alert(n, 300, 400, 500) for n in names])])


def test_inits_receivers_deliver_nowhere_so_nothing_is_ready_until_one_is_declared(project, tmp_path, capsys):
    catalog = load_catalog(project / "moneypath.yaml")
    names = paging_alerts(catalog)
    _all_passed(tmp_path / "h", names.values(), time.time() - 86400)
    items = readiness(catalog, h_records(tmp_path / "h"), project, time.time())
    assert {a.status for a in items} == {FAIL}
    pager = catalog.routes.page
    alert = names["LedgerWriteFailures"]
    item = next(a for a in items if a.alert == alert)
    assert item.why == (f"not ready: its pages reach no delivery: {alert} pages {pager}, which has no "
                        f"pagerduty/opsgenie/slack/webhook under receivers.{pager} in moneypath.yaml (only the local "
                        "`moneypath pager` gets them); declare one (docs/alerts.md, \"Production receivers\")")
    code = main(["readiness", "--catalog", str(project / "moneypath.yaml"), "--history", str(tmp_path / "h")])
    out = capsys.readouterr().out
    assert code == 1 and f"NOT READY     {alert}: not ready: its pages reach no delivery" in out, out
    view = HistoryView(catalog, tmp_path / "h", project)
    assert _last_pass(view) == {}  # no standing pass: the ReadinessLapsed ticket fires, as the CLI says

    # a delivery under every receiver (the catalog refuses some without one) and the dead man's switch: ready
    text = (project / "moneypath.yaml").read_text()
    block = text[text.index("\nreceivers:\n"):text.index("\nroutes:\n")]
    delivered = "".join(ln.rstrip()[:-1] + DELIVERY if ln.startswith("  ") else ln
                        for ln in block.splitlines(keepends=True))
    fixed = tmp_path / "fixed"
    fixed.mkdir()
    (fixed / "moneypath.yaml").write_text(text.replace(block, delivered)
                                          + "watchdog: {webhook: {url: https://hc-ping.com/check}}\n")
    catalog = load_catalog(fixed / "moneypath.yaml")
    got = readiness(catalog, h_records(tmp_path / "h"), project, time.time())
    assert {a.status for a in got} == {PASS}, [a.why for a in got if a.status != PASS]
    assert set(_last_pass(HistoryView(catalog, tmp_path / "h", project))) == set(names.values())


def h_records(history_dir):
    from moneypath.readiness.history import read

    return read(history_dir)


def _runs(name: str, *verdicts_ago: tuple[str, str, float]) -> list[dict]:
    now = time.time()
    return [h.run(drill, now - days * 86400, [h.alert(name, 300 if verdict == "pass" else None)], verdict=verdict)
            for drill, verdict, days in sorted(verdicts_ago, key=lambda v: -v[2])]


@pytest.mark.parametrize("runs, status, why", [
    ([("d", "pass", 10), ("d", "fail", 2)], FAIL, "not ready: the latest run of d ("),
    ([("d", "fail", 10), ("d", "pass", 2)], PASS, "passed 2 days ago (d)"),
    ([("d", "pass", 10), ("d", "fail", 5), ("d", "pass", 2)], PASS, "passed 2 days ago (d)"),
    ([("d", "pass", 10), ("e", "fail", 2), ("d", "pass", 1)], FAIL, "not ready: the latest run of e ("),
    ([("d", "pass", 10), ("d", "not measured", 2)], PASS, "passed 10 days ago (d)"),
])
def test_the_latest_run_of_each_drill_decides_by_time(tmp_path, runs, status, why):
    catalog = load_catalog(CATALOG_PATH)  # every receiver of the shipped catalog delivers
    name = paging_alerts(catalog)["FraudSpike"]
    h.write(tmp_path, _runs(name, *runs))
    item = next(a for a in readiness(catalog, h_records(tmp_path), ROOT, time.time()) if a.alert == name)
    assert item.status == status and item.why.startswith(why), item.why
    exported = _last_pass(HistoryView(catalog, tmp_path, ROOT))
    assert (name in exported) == (status == PASS)


def test_the_evidence_map_covers_a_control_only_by_a_drills_latest_run():
    def rec(seq, drill, verdict, day):
        return {"seq": seq, "drill": drill, "verdict": verdict, "controls": ["SOC2-CC7.4"],
                "started_at": f"2026-02-{day:02d}T10:00:00Z"}

    assert control_status("SOC2-CC7.4", [rec(1, "d", PASS, 1), rec(2, "d", FAIL, 9)]).outcome is NOT_MEASURED
    check = control_status("SOC2-CC7.4", [rec(1, "d", PASS, 1), rec(2, "d", FAIL, 9)])
    assert check.why == "not measured: 1 record(s) pass, but the latest run of d (seq 2) failed after it"
    assert control_status("SOC2-CC7.4", [rec(1, "d", FAIL, 1), rec(2, "d", PASS, 9)]).outcome is PASS
    assert control_status("SOC2-CC7.4", [rec(1, "d", PASS, 1), rec(2, "e", FAIL, 9)]).outcome is PASS
