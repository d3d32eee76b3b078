"""The live map read from a real stack: Prometheus, Alertmanager, the provider simulator and the reference service
on loopback (1 s scrapes and rule evaluations, the rules compressed 60 times as the drills run them), a low steady
load of authorizations over both providers. Edges with traffic are green with their figures; an edge whose signal
has no data (captures at acme: the load sends none) is grey; a provider
outage at acme (the simulator's error_rate fault, as runbooks/drills/provider-partial-outage.yaml injects at globex)
turns the payments→acme edge red as soon as Prometheus shows its paging alert firing, globex's edge stays not red,
and after the fault is cleared the alert resolves and the edge is no longer red."""

from __future__ import annotations

import contextlib
import io
import threading

import httpx
import pytest

from moneypath.catalog import load_catalog
from moneypath.map.graph import build_map
from moneypath.map.live_health import read_health
from moneypath.map.marks import State
from moneypath.protocol.tokens import issue
from moneypath.stack import local as stack
from tests.conftest import CATALOG_PATH, wait_for
from tests.docs_examples import code_block
from tests.support.stack_traffic import authorize_until

pytestmark = pytest.mark.integration

PAGE, HEADING = "docs/map-live.md", "Reading the live map from Python"

RATE = 8.0  # authorizations a second, half to each provider
WINDOW = "10s"  # the figures' rate window: ten 1 s scrapes
# The reference map with one more edge, whose signal the load never moves: a latency with no observation in the
# window (the service creates its counters' series at 0 from the start: a counter's 0/s is a measured figure).
CAPTURES = """    - from: payments
      to: acme
      movement: capture
      signals: {latency: 'provider_request_duration_seconds{provider="acme",operation="capture"}'}
"""


def firing_for(prom: str, alert: str, provider: str) -> list[dict]:
    """The firing paging alerts named `alert` with provider=`provider`, as Prometheus shows them."""
    alerts = httpx.get(f"{prom}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [a for a in alerts if a["state"] == "firing" and a["labels"].get("alertname") == alert
            and a["labels"].get("provider") == provider and a["labels"].get("severity") == "page"]


def test_a_provider_outage_turns_its_edge_red_and_back(catalog, tmp_path):
    (tmp_path / "moneypath.yaml").write_text(CATALOG_PATH.read_text() + CAPTURES)
    graph = build_map([load_catalog(tmp_path / "moneypath.yaml")])
    captures = graph.edges[-1]
    (acme,) = [e for e in graph.edges_touching_provider("acme") if e.source == "payments/payments" and e != captures]
    (globex,) = [e for e in graph.edges_touching_provider("globex") if e.source == "payments/payments"]
    alert = catalog.alert_name("ProviderPartialOutage")
    state = stack.up(catalog, tmp_path / "stack", stack.StackSpec(fast=True, services=True, faults=True,
                                                                  time_factor=60), progress=lambda *_: None)
    stop = threading.Event()
    try:
        secret = stack.read_secrets(tmp_path / "stack")["token_secret"].encode()
        admin = {"authorization": f"Bearer {issue(secret, 'drill', ['admin:faults'], 3600)}"}
        prom, sim = state.url("prometheus"), state.url("providersim")
        load = threading.Thread(target=authorize_until, args=(state.url("refservice"), secret, stop, RATE), daemon=True)
        load.start()

        def live():
            return read_health(graph, prom, timeout_s=5, window=WINDOW)

        def both_flowing():  # green, with payments in the window
            health = live()
            return health if all(health.edges[e.id].state is State.GREEN and len(health.edges[e.id].figures) == 3
                                 and health.edges[e.id].figures[0] != "0/s" for e in (acme, globex)) else None

        health = wait_for(both_flowing, 60, "both providers' edges green with rate, errors and p99", interval_s=1)
        print("\nhealthy:", {e: (m.state.value, m.figures) for e, m in health.edges.items()})
        assert health.edges[acme.id].figures[1] == "errors 0 %"
        assert health.edges[acme.id].figures[2].startswith("p99 ") and health.edges[acme.id].figures[2].endswith("ms")
        assert health.edges[captures.id].state is State.GREY  # no capture is sent: no data, never green
        assert health.edges[captures.id].why == ("not measured: no data now from "
                                                 f"{catalog.metric('provider_request_duration_seconds')}")
        assert State.RED not in {m.state for m in health.edges.values()}

        with httpx.Client(timeout=5) as client:
            client.put(f"{sim}/admin/faults/error_rate", json={"provider": "acme", "rate": 1.0},
                       headers=admin).raise_for_status()
            wait_for(lambda: firing_for(prom, alert, "acme"), 60, f"{alert} for acme to fire", interval_s=0.5)
            # the map reads the alert from the same Prometheus: the first read after it fires shows it
            health = live()
            print("outage:", {e: (m.state.value, m.why) for e, m in health.edges.items()})
            assert health.edges[acme.id].state is State.RED, health.edges[acme.id]
            assert alert in health.edges[acme.id].alerts
            assert health.nodes["payments/acme"].state is State.RED
            assert health.edges[globex.id].state is not State.RED, health.edges[globex.id]

            client.delete(f"{sim}/admin/faults/error_rate", headers=admin).raise_for_status()
            wait_for(lambda: not firing_for(prom, alert, "acme"), 60, f"{alert} for acme to resolve", interval_s=0.5)
            health = wait_for(lambda: (h := live()).edges[acme.id].state is not State.RED and h, 5,
                              "the acme edge to leave red once its alert resolved", interval_s=0.5)
            print("recovered:", {e: (m.state.value, m.why) for e, m in health.edges.items()})
            assert health.edges[acme.id].state in (State.GREEN, State.AMBER)

        # the page's example, as written but for the catalog and the Prometheus it reads
        example = code_block(PAGE, HEADING)
        assert '"moneypath.yaml"' in example and '"http://127.0.0.1:9090"' in example
        example = example.replace('"moneypath.yaml"', repr(str(tmp_path / "moneypath.yaml")))
        printed, scope = io.StringIO(), {}
        with contextlib.redirect_stdout(printed):
            exec(example.replace('"http://127.0.0.1:9090"', repr(prom)), scope)
        lines = printed.getvalue().splitlines()
        assert len(lines) == len(graph.edges)
        assert lines[graph.edges.index(acme)].startswith(f"{acme.id} payments/payments -> payments/acme ")
        assert scope["report"]["edges"][captures.id]["state"] == "grey"
    finally:
        stop.set()
        stack.down(tmp_path / "stack", progress=lambda *_: None)
