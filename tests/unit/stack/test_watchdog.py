"""The dead man's switch: the always-firing alert, its route to the switch and never to on-call, the
catalog's watchdog section, and the pager telling heartbeats from pages and noticing when they stop."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from moneypath.catalog import CatalogError, parse_catalog
from moneypath.generate.routing import FAST, alertmanager_config
from moneypath.generate.rules import alert_rules
from moneypath.stack.pager import Heartbeat, create_app
from tests.conftest import CATALOG_PATH, FOREIGN_PATH


def watchdog_rules(c) -> list[dict]:
    return [r for g in alert_rules(c)["groups"] for r in g["rules"] if r["alert"] == c.alert_name("Watchdog")]


@pytest.mark.parametrize("fixture", ["catalog", "foreign"])
def test_the_watchdog_always_fires_and_goes_to_the_switch_alone(fixture, request):
    c = request.getfixturevalue(fixture)
    [rule] = watchdog_rules(c)
    assert rule["expr"] == "vector(1)" and rule["labels"] == {"severity": "none"}
    assert rule["annotations"]["runbook_url"] == c.runbook_url("Watchdog")
    config = alertmanager_config(c)
    first = config["route"]["routes"][0]
    assert first["receiver"] == "deadmans-switch" and first["matchers"] == [f'alertname="{c.alert_name("Watchdog")}"']
    assert first["repeat_interval"] == "1m" and "continue" not in first  # stops here: never reaches on-call
    switch = next(r for r in config["receivers"] if r["name"] == "deadmans-switch")
    assert switch["webhook_configs"][0]["send_resolved"] is False
    assert alertmanager_config(c, timings=FAST)["route"]["routes"][0]["repeat_interval"] == "5s"


def _catalog(extra: str, base=CATALOG_PATH):
    """The catalog with its own watchdog section replaced by `extra`."""
    text = re.sub(r"^watchdog:\n(?:  .*\n)*", "", base.read_text(), flags=re.MULTILINE) + extra
    return parse_catalog(text, str(base))


def test_a_catalog_can_name_its_switch_or_turn_it_off():
    named = _catalog("\nwatchdog: {receiver: healthchecks, repeat_interval: 2m, webhook: {url: 'https://hc.test/p'}}\n",
                     FOREIGN_PATH)
    route = alertmanager_config(named)["route"]["routes"][0]
    assert (route["receiver"], route["repeat_interval"]) == ("healthchecks", "2m")
    off = _catalog("\nwatchdog: {enabled: false}\n")
    assert watchdog_rules(off) == []
    assert "deadmans-switch" not in {r["name"] for r in alertmanager_config(off)["receivers"]}


@pytest.mark.parametrize("extra, problem", [
    ("\nwatchdog: {receiver: payments-oncall}\n", "watchdog.receiver: 'payments-oncall' is a person or team"),
    ("\nwatchdog: {repeat_interval: soon}\n", "watchdog.repeat_interval: 'soon' is not a Prometheus duration"),
    ("\nwatchdog: {recevier: x}\n", "watchdog.recevier"),
])
def test_a_bad_watchdog_section_names_its_key(extra, problem):
    with pytest.raises(CatalogError) as err:
        _catalog(extra)
    assert any(problem in line for line in err.value.problems), err.value.problems


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_heartbeat_goes_late_once_and_says_when_it_is_back(tmp_path):
    clock, said = Clock(), []
    beat = Heartbeat(tmp_path / "pages.jsonl.watchdog", timeout_s=20, clock=clock, say=said.append)
    assert beat.state()["status"] == "never"
    clock.now += 21
    beat.check()
    beat.check()
    assert said == ["watchdog: no heartbeat since the pager started for 21 s (timeout 20 s): Prometheus, its rules "
                    "or Alertmanager may be down"]
    beat.beat()
    assert said[-1] == "watchdog: heartbeat again after 21 s" and beat.state()["status"] == "ok"
    clock.now += 15
    beat.check()
    assert len(said) == 2 and beat.state() == {"status": "ok", "last_seen": 1021.0, "age_s": 15.0, "timeout_s": 20,
                                               "replicas": {}}
    clock.now += 10
    beat.check()
    assert beat.state()["status"] == "late"
    assert said[-1].startswith("watchdog: no heartbeat for 25 s (timeout 20 s)")
    # a restarted pager remembers the last heartbeat
    again = Heartbeat(tmp_path / "pages.jsonl.watchdog", timeout_s=20, clock=clock, say=said.append)
    assert again.state()["last_seen"] == 1021.0


def test_a_late_heartbeat_never_reads_as_old_as_the_timeout(tmp_path):
    clock = Clock()
    beat = Heartbeat(tmp_path / "pages.jsonl.watchdog", timeout_s=16, clock=clock, say=lambda line: None)
    beat.beat()
    clock.now += 16.04
    state = beat.state()
    assert state["status"] == "late" and state["age_s"] > state["timeout_s"]


def _webhook(alertname: str) -> dict:
    return {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {
        "alertname": alertname, "severity": "none"}, "annotations": {}, "startsAt": "2026-11-23T03:00:00Z"}]}


def test_the_pager_keeps_heartbeats_out_of_the_pages(tmp_path):
    journal = tmp_path / "pages.jsonl"
    with TestClient(create_app(journal, watchdog_receiver="deadmans-switch", watchdog_timeout_s=60)) as client:
        assert client.get("/watchdog").json()["status"] == "never"
        assert client.post("/hooks/deadmans-switch", json=_webhook("MoneyPathWatchdog")).status_code == 200
        state = client.get("/watchdog").json()
        assert state["status"] == "ok" and state["receiver"] == "deadmans-switch" and state["timeout_s"] == 60
        assert client.get("/pages").json() == []
        client.post("/hooks/payments-oncall", json=_webhook("MoneyPathLedgerImbalance"))
        assert [p["alertname"] for p in client.get("/pages").json()] == ["MoneyPathLedgerImbalance"]
        bad = client.post("/hooks/deadmans-switch", content=b"not json")
        assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
    assert len(journal.read_text().splitlines()) == 1
    assert json.loads((tmp_path / "pages.jsonl.watchdog").read_text())["last_seen"] == state["last_seen"]


def test_behind_a_prometheus_pair_a_silent_replica_shows_while_the_other_beats(tmp_path):
    clock, said = Clock(), []
    beat = Heartbeat(tmp_path / "pages.jsonl.watchdog", timeout_s=20, clock=clock, say=said.append)
    beat.beat(["a", "b"])
    for _ in range(5):  # b's Prometheus is gone: only a's heartbeat comes, every 5 s
        clock.now += 5
        beat.beat(["a"])
        beat.check()
    state = beat.state()
    assert state["status"] == "ok" and state["replicas"] == {"a": {"status": "ok", "age_s": 0.0},
                                                            "b": {"status": "late", "age_s": 25.0}}
    assert said == ["watchdog: no heartbeat from replica b for 25 s (timeout 20 s): that Prometheus is down or "
                    "cannot reach Alertmanager"]
    beat.beat(["a", "b"])
    assert said[-1] == "watchdog: heartbeat from replica b again after 25 s"
    again = Heartbeat(tmp_path / "pages.jsonl.watchdog", timeout_s=20, clock=clock, say=said.append)
    assert set(again.state()["replicas"]) == {"a", "b"}  # a restarted pager remembers each replica


def test_the_pager_reads_the_replica_from_each_heartbeat(tmp_path):
    pair = _webhook("MoneyPathWatchdog")
    pair["alerts"] = [dict(pair["alerts"][0], labels={**pair["alerts"][0]["labels"], "heartbeat_from": r})
                      for r in ("a", "b")]
    with TestClient(create_app(tmp_path / "pages.jsonl", watchdog_receiver="deadmans-switch")) as client:
        client.post("/hooks/deadmans-switch", json=pair)
        assert set(client.get("/watchdog").json()["replicas"]) == {"a", "b"}
