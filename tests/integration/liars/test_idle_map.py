"""The liar's matrix, an idle map: the local stack (Prometheus scraping every second, the reference service and
its provider simulator) with no payment sent. The map used to draw every edge green for "no alert firing"; now
no edge is green, the edges that carry money read idle, the command exits 3 (not measured), and `--json` says
the same with the why. Then the service is killed: within two scrape intervals of the kill its edges read grey,
its target down in Prometheus's own words, never green."""

from __future__ import annotations

import json
import time

import pytest

from moneypath.catalog import duration_seconds, load_catalog
from moneypath.map.graph import build_map
from moneypath.map.live_health import read_health
from moneypath.map.marks import State
from moneypath.stack import local as stack
from moneypath.stack.spec import StackSpec
from tests.conftest import CATALOG_PATH, run_cli, wait_for
from tests.docs_examples import args_of, code_block, command, fill

pytestmark = pytest.mark.integration

DOCS_PAGE, DOCS_HEADING = "docs/map-live.md", "The command's JSON"
IDLE_WHY = "idle: no traffic in the last 1m (0/s), its target up"
IDLE_LINE = ("idle: edge payments#0 payments/customer → payments/payments (authorize): no traffic in the last 1m "
             "(0/s), its target up (0/s)")


def test_an_idle_stack_draws_no_edge_green_and_a_killed_service_goes_grey(tmp_path):
    catalog = load_catalog(CATALOG_PATH)
    graph = build_map([catalog])
    customer = next(e for e in graph.edges if e.source == "payments/customer")
    state = stack.up(catalog, tmp_path / "stack", StackSpec(fast=True, services=True), progress=lambda *_: None)
    try:
        prom = state.url("prometheus")
        interval_s = duration_seconds(state.scrape_interval)

        # docs/map-live.md's command, as written but for the Prometheus it reads and the directory it writes to
        argv = fill(command(code_block(DOCS_PAGE, DOCS_HEADING, "sh"), "map"), prometheus=prom,
                    out=str(tmp_path / "map"))

        def as_json():
            result = run_cli(*args_of(argv))
            return result.returncode, json.loads(result.stdout)

        # a rate needs two scrapes in its window: until then the edges are not measured, then idle
        code, data = wait_for(lambda: (r := as_json())[1]["edges"][customer.id]["state"] == "idle" and r, 20,
                              "the customer's edge to read idle", interval_s=1)
        print("\nidle:", {e: (m["state"], m["figures"]) for e, m in data["edges"].items()})
        assert code == 3 and data["verdict"] == "not measured" and data["answered"] is True
        assert not [e for e, m in data["edges"].items() if m["state"] == "green"]
        assert not [n for n, m in data["nodes"].items() if m["state"] == "green"]
        assert data["edges"][customer.id] == {
            "from": "payments/customer", "to": "payments/payments", "movement": "authorize", "state": "idle",
            "figures": ["0/s"], "why": IDLE_WHY, "alerts": [], "outcome": "not measured"}
        carrying = {e.id for e in graph.edges if e.signal("rate")}
        assert {e for e, m in data["edges"].items() if m["state"] == "idle"} == carrying
        lines = run_cli("map", "--prometheus", prom, "--out", str(tmp_path / "map")).stdout.splitlines()
        print("\n".join(lines))
        assert IDLE_LINE in lines
        idle_nodes = len([n for n, m in data["nodes"].items() if m["state"] == "idle"])
        grey = len(graph.edges) + len(graph.nodes) - len(carrying) - idle_nodes
        assert f"0 red or amber, 0 green, {len(carrying) + idle_nodes} idle, 0 no objective, {grey} not measured" \
            in lines
        page = (tmp_path / "map" / "money-path.html").read_text()
        assert 'data-state="idle"' in page and 'data-state="green"' not in page

        target = next(t for t in _targets(prom) if t["labels"]["job"] == catalog.service)["labels"]["instance"]
        stack.kill_part(tmp_path / "stack", "refservice")
        killed = time.monotonic()
        health = wait_for(lambda: (h := read_health(graph, prom, timeout_s=5)).edges[customer.id].state
                          is State.GREY and h, 2 * interval_s + 2, "the killed service's edges to go grey",
                          interval_s=0.2)
        took = time.monotonic() - killed
        print(f"grey {took:.2f} s after the kill (scrape interval {interval_s:g} s):", health.edges[customer.id].why)
        assert health.edges[customer.id].why.startswith(
            f'not measured: target {target} (job {catalog.service}) is down (up 0): Get "http://{target}/metrics": ')
        assert health.edges[customer.id].figures == ()
        assert not [e for e, m in health.edges.items() if m.state is State.GREEN]
        assert all(health.edges[e].state is State.GREY for e in carrying)
    finally:
        stack.down(tmp_path / "stack", progress=lambda *_: None)


def _targets(prom: str) -> list[dict]:
    import httpx

    return httpx.get(f"{prom}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
