"""A job another tool adds to a running stack's scrapes (moneypath.stack.scrape): the stack rewrites its own scrape
configuration and reloads each scraper; the load test adds and removes its Locust exporter through it."""

from __future__ import annotations

import httpx
import pytest
import yaml

from moneypath._common.prometheus import Prometheus
from moneypath.loadtest.command import targets
from moneypath.loadtest.command.run_types import LoadTarget, LoadTestError
from moneypath.stack import local as stack
from moneypath.stack import scrape
from moneypath.stack.state import Part, StackError, StackState, save_state

OWN = {"job_name": "payments", "static_configs": [{"targets": ["127.0.0.1:8001"]}]}


def _stack(tmp_path, names=("prometheus",), engine="prometheus") -> StackState:
    parts = [Part(name, f"http://127.0.0.1:{9090 + i}", 10**7 + i, "/-/ready", f"{name}.log")
             for i, name in enumerate(names)]
    state = StackState(str(tmp_path), "1s", "1s", [], parts, engine=engine, ha="prometheus-b" in names)
    save_state(state)
    for name in names:
        if name.startswith("prometheus"):
            config = {"global": {"scrape_interval": "1s", "external_labels": {"replica": name[-1]}},
                      "scrape_configs": [OWN]}
            (tmp_path / f"{name}.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    if engine == "vm":
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({"scrape_configs": [OWN]}))
    return state


@pytest.fixture
def reloads(monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(scrape, "_reload", asked.append)
    return asked


def _jobs(path) -> dict:
    return {j["job_name"]: j["static_configs"][0]["targets"] for j in yaml.safe_load(path.read_text())["scrape_configs"]}


def test_a_job_is_added_replaced_and_removed_and_the_scraper_reloaded(tmp_path, reloads):
    _stack(tmp_path)
    stack.set_extra_scrape_targets(tmp_path, "locust", ["127.0.0.1:9646"])
    assert _jobs(tmp_path / "prometheus.yml") == {"payments": ["127.0.0.1:8001"], "locust": ["127.0.0.1:9646"]}
    stack.set_extra_scrape_targets(tmp_path, "locust", ["127.0.0.1:9647", "127.0.0.1:9648"])
    assert _jobs(tmp_path / "prometheus.yml")["locust"] == ["127.0.0.1:9647", "127.0.0.1:9648"]
    stack.set_extra_scrape_targets(tmp_path, "locust", [])
    assert _jobs(tmp_path / "prometheus.yml") == {"payments": ["127.0.0.1:8001"]}
    assert yaml.safe_load((tmp_path / "prometheus.yml").read_text())["global"]["scrape_interval"] == "1s"
    assert reloads == ["http://127.0.0.1:9090"] * 3


def test_every_replica_of_a_pair_scrapes_the_job(tmp_path, reloads):
    _stack(tmp_path, ("prometheus", "prometheus-b", "alertmanager"))
    stack.set_extra_scrape_targets(tmp_path, "locust", ["127.0.0.1:9646"])
    for name in ("prometheus", "prometheus-b"):
        assert _jobs(tmp_path / f"{name}.yml")["locust"] == ["127.0.0.1:9646"]
        assert yaml.safe_load((tmp_path / f"{name}.yml").read_text())["global"]["external_labels"]["replica"] == name[-1]
    assert reloads == ["http://127.0.0.1:9090", "http://127.0.0.1:9091"]


def test_with_engine_vm_victoriametrics_scrapes_what_prometheus_yml_lists(tmp_path, reloads):
    _stack(tmp_path, ("victoriametrics", "vmalert"), engine="vm")
    stack.set_extra_scrape_targets(tmp_path, "locust", ["127.0.0.1:9646"])
    assert _jobs(tmp_path / "prometheus.yml")["locust"] == ["127.0.0.1:9646"]
    assert reloads == ["http://127.0.0.1:9090"]


def test_no_stack_a_missing_file_or_the_stacks_own_job_is_a_stack_error(tmp_path, reloads):
    with pytest.raises(StackError, match="no stack recorded in"):
        stack.set_extra_scrape_targets(tmp_path, "locust", ["127.0.0.1:9646"])
    _stack(tmp_path)
    with pytest.raises(StackError, match="'payments' is the stack's own scrape job"):
        stack.set_extra_scrape_targets(tmp_path, "payments", ["127.0.0.1:9646"])
    (tmp_path / "prometheus.yml").unlink()
    with pytest.raises(StackError, match="cannot read the stack's scrape configuration"):
        stack.set_extra_scrape_targets(tmp_path, "locust", ["127.0.0.1:9646"])
    assert reloads == []


def test_the_load_test_adds_and_removes_its_exporter_through_the_stack(tmp_path, reloads):
    _stack(tmp_path)
    target = LoadTarget("http://127.0.0.1:1", "http://127.0.0.1:9090/", None, "t", "a", state_dir=tmp_path)
    targets.add_exporter_target(target, 9646)
    assert target.reloaded_prometheus and _jobs(tmp_path / "prometheus.yml")["locust"] == ["127.0.0.1:9646"]
    targets.remove_exporter_target(target)
    assert not target.reloaded_prometheus and "locust" not in _jobs(tmp_path / "prometheus.yml")
    for other in (LoadTarget("h", "http://127.0.0.1:7777", None, "t", "a", state_dir=tmp_path),  # another Prometheus
                  LoadTarget("h", "http://127.0.0.1:9090", None, "t", "a", state_dir=tmp_path, owned=True)):
        targets.add_exporter_target(other, 9646)
        assert not other.reloaded_prometheus
    assert reloads == ["http://127.0.0.1:9090"] * 2


def test_the_load_test_words_a_refused_reload_as_the_stack_does(tmp_path, monkeypatch):
    _stack(tmp_path)
    monkeypatch.setattr(scrape, "Prometheus", lambda url, timeout_s: _mock_with(Prometheus(url, timeout_s), lambda r:
                        httpx.Response(500, text="failed to reload config: bad\n")))
    target = LoadTarget("http://127.0.0.1:1", "http://127.0.0.1:9090", None, "t", "a", state_dir=tmp_path)
    with pytest.raises(LoadTestError, match="^Prometheus at http://127.0.0.1:9090 refused the reload: 500 failed to "
                                            "reload config: bad$"):
        targets.add_exporter_target(target, 9646)
    assert not target.reloaded_prometheus
    target.reloaded_prometheus = True
    targets.remove_exporter_target(target)  # a stack that went away meanwhile: nothing left to undo
    assert not target.reloaded_prometheus


def _mock_with(prom: Prometheus, answer) -> Prometheus:
    prom.client = httpx.Client(transport=httpx.MockTransport(answer))
    return prom
