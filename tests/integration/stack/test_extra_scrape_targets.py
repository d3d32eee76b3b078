"""A job added to a running stack's scrapes, for real: an HA pair shaped by several switches at once, each replica
reloaded by the stack (moneypath.stack.scrape), scraping the extra target until the job is removed."""

from __future__ import annotations

import httpx
import pytest
import yaml

from moneypath.stack import local as stack
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def _jobs(prometheus: str) -> set[str]:
    active = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    return {t["labels"]["job"] for t in active if t["health"] == "up"}


def test_both_replicas_scrape_an_extra_job_until_it_is_removed(catalog, tmp_path):
    state_dir = tmp_path / "stack"
    spec = stack.StackSpec(fast=True, ha=True, time_factor=60, rules_every="15s", timeout_s=90)
    state = stack.up(catalog, state_dir, spec, progress=lambda *_: None)
    try:
        config = yaml.safe_load((state_dir.resolve() / "prometheus-b.yml").read_text())
        assert config["global"]["evaluation_interval"] == "15s" and config["global"]["scrape_interval"] == "1s"
        replicas = [state.url("prometheus"), state.url("prometheus-b")]
        extra = state.url("alertmanager").removeprefix("http://")  # anything serving /metrics
        stack.set_extra_scrape_targets(state_dir, "extra", [extra])
        for prom in replicas:
            wait_for(lambda prom=prom: "extra" in _jobs(prom), 20, f"{prom} to scrape the extra job")
        stack.set_extra_scrape_targets(state_dir, "extra", [])
        for prom in replicas:
            wait_for(lambda prom=prom: "extra" not in _jobs(prom), 20, f"{prom} to drop the extra job")
    finally:
        stack.down(state_dir, progress=lambda *_: None)
    with pytest.raises(stack.StackError, match="no stack recorded"):
        stack.set_extra_scrape_targets(state_dir, "extra", [extra])
