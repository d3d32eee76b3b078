"""The readiness series (moneypath.readiness.gauges): names from the conventions, one per paging alert,
absent (never zero) where nothing was measured; re-read only when the history changes; a history that does not
verify exports no runs. And `moneypath readiness`: exit codes, --json, the text report, --textfile."""

from __future__ import annotations

import json
import time

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from moneypath.catalog.conventions import READINESS_METRICS
from moneypath.check.rehearsals import paging_alerts
from moneypath.readiness.gauges import HistoryView, registry
from tests.conftest import CATALOG_PATH, ROOT, run_cli
from tests.support import drill_history as h

NOW = 1_790_000_000.0


def cli(*args: str) -> tuple[int, str, str]:
    result = run_cli(*args)
    return result.returncode, result.stdout, result.stderr


def samples(view) -> dict[str, list]:
    text = generate_latest(registry(view)).decode()
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


@pytest.fixture
def names(catalog):
    return paging_alerts(catalog)


def test_the_series_of_a_quarter(catalog, names, tmp_path):
    ready, lapsing, creeping = names["LedgerWriteFailures"], names["DuplicateChargeDetected"], names["FraudSpike"]
    h.write(tmp_path, h.quarter(NOW, ready, lapsing, creeping))
    got = samples(HistoryView(catalog, tmp_path, ROOT))
    m = READINESS_METRICS
    assert set(got) <= set(m.values())
    policy = {labels["alert"]: v for labels, v in got[m["policy"]]}
    assert set(policy) == set(names.values()) and policy[ready] == 90 * 86400
    last = {labels["alert"]: v for labels, v in got[m["last_pass"]]}
    assert set(last) == {ready, creeping}  # never rehearsed, or failed after its pass (lapsing): absent, never 0
    runs = {labels["run"]: v for labels, v in got[m["time_to_page"]] if labels["alert"] == creeping}
    assert runs == {"1": 1212, "2": 1211, "3": 1210, "4": 609, "5": 608, "6": 607}  # newest first, 2 x trend.runs
    assert all(labels["service"] == catalog.service for labels, _ in got[m["policy"]])
    assert got[m["history_verified"]] == [({"service": catalog.service}, 1.0)]
    assert got[m["records"]] == [({"service": catalog.service}, 28.0)]
    deadline = {labels["alert"]: v for labels, v in got[m["page_deadline"]]}
    assert deadline[ready] == 1800 and names["LedgerImbalance"] not in deadline  # no drill, no deadline: absent


def test_the_history_is_read_again_only_when_it_changes(catalog, names, tmp_path, monkeypatch):
    from moneypath.readiness import gauges

    reads = []
    real = gauges.read
    monkeypatch.setattr(gauges, "read", lambda d: reads.append(d) or real(d))
    records = [h.run("a", NOW - 86400, [h.alert(names["FraudSpike"], 300)])]
    h.write(tmp_path, records)
    view = HistoryView(catalog, tmp_path, ROOT)
    samples(view), samples(view)
    assert len(reads) == 1
    (tmp_path / "records" / "00000001.json").unlink()
    h.write(tmp_path, records + [h.run("b", NOW, [h.alert(names["FraudSpike"], 320)])])
    assert len(samples(view)[READINESS_METRICS["time_to_page"]]) == 2 and len(reads) == 2


def test_a_tampered_history_exports_no_runs(catalog, names, tmp_path):
    h.write(tmp_path, [h.run("a", NOW - 86400 * d, [h.alert(names["FraudSpike"], 300)]) for d in (3, 2, 1)])
    second = tmp_path / "records" / "00000002.json"
    second.write_bytes(second.read_bytes().replace(b'"verdict":"pass"', b'"verdict":"fail"'))
    got = samples(HistoryView(catalog, tmp_path, ROOT))
    assert got[READINESS_METRICS["history_verified"]][0][1] == 0
    assert READINESS_METRICS["last_pass"] not in got and READINESS_METRICS["time_to_page"] not in got
    assert len(got[READINESS_METRICS["policy"]]) == len(names)  # every alert: never rehearsed, not ready
    code, out, err = cli("readiness", "--history", str(tmp_path))
    assert code == 1 and "does not verify" in err and "\n" not in err.strip()


def _history_all_ready(tmp_path, names, when):
    h.write(tmp_path, [h.run("all", when, [h.alert(name, 300, 400, 500) for name in names.values()])])


def test_exit_codes_ready_lapsed_never_rehearsed(names, tmp_path):
    now = time.time()
    _history_all_ready(tmp_path / "ready", names, now - 86400)
    code, out, _ = cli("readiness", "--history", str(tmp_path / "ready"))
    assert code == 0, out
    assert out.count("READY") == len(names) and "roles: incident_commander by ana, compliance by li (late)" in out
    _history_all_ready(tmp_path / "old", names, now - 100 * 86400)  # the policy: 90 days
    code, out, _ = cli("readiness", "--history", str(tmp_path / "old"))
    assert code == 1 and out.count("LAPSED ") == len(names)
    assert "LAPSED        MoneyPathLedgerImbalance: lapsed: last pass 100 days ago (all), policy 90 days" in out
    code, out, _ = cli("readiness", "--history", str(tmp_path / "none"), "--json")
    assert code == 3
    doc = json.loads(out)
    assert {a["status"] for a in doc["alerts"]} == {"not measured"} and doc["records"] == 0


def test_never_rehearsed_is_listed_first_and_exit_1_wins(names, tmp_path):
    now = time.time()
    h.write(tmp_path, [h.run("x", now - 86400, [h.alert(names["FraudSpike"], 300)], verdict="fail")])
    code, out, _ = cli("readiness", "--history", str(tmp_path))
    assert code == 1
    states = [line.split()[0] for line in out.splitlines()[1:] if not line.startswith(" ")]
    assert states[0] == "NOT" and states[-1] == "LAPSED"


def test_the_textfile_and_a_bad_listen_address(names, tmp_path):
    _history_all_ready(tmp_path / "h", names, NOW)
    prom = tmp_path / "readiness.prom"
    code, out, _ = cli("readiness", "serve", "--history", str(tmp_path / "h"), "--textfile", str(prom))
    assert code == 0 and READINESS_METRICS["last_pass"] in prom.read_text()
    code, _, err = cli("readiness", "serve", "--listen", "nowhere", "--catalog", str(CATALOG_PATH))
    assert code == 2 and "--listen 'nowhere' is not HOST:PORT" in err
