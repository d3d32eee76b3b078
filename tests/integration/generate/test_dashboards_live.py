"""Every generated dashboard panel shows data from a real Prometheus scraping the reference service.

The real stack (provider simulator, reference service, Prometheus and Alertmanager with 1 s
intervals) runs a short load while the drill faults that move the rarer signals are switched on
and off; then every panel query of every dashboard is run over the Prometheus HTTP API the way
Grafana would (variables substituted: datasource, provider = All, $__rate_interval = 1m) and must
return at least one finite sample. A failure lists dashboard, panel title and query of each empty
one. Queries on Locust metrics are left out: no Locust runs here; tests/integration/loadtest/test_session.py
runs them against a real Locust run.

The map board's Node Graph is then read as Grafana reads it: a nodes frame and an edges frame holding every node and
edge of the catalog's money path (ids from build_map), the authorizations' edge red while their SLO pages, an edge red
only from an alert firing for its own provider, no measured edge grey.

The same stack then feeds docs/dashboards.md's `moneypath snapshot`: PNGs and an HTML page of the overview dashboard,
with the money-path map drawn in its live colours.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from moneypath import cli
from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import READINESS_METRICS, slo_alert_key
from moneypath.generate import dashboards as d
from moneypath.generate.dashboards.map_queries import COLORS
from moneypath.map.graph import build_map
from moneypath.map.marks import State
from moneypath.protocol.tokens import issue
from moneypath.stack import local as stack
from tests.conftest import CATALOG_PATH, ROOT, wait_for
from tests.docs_examples import args_of, code_block, env_of, fill, shell, substitute
from tests.support.stack_traffic import clear, fault, payments_for

pytestmark = pytest.mark.integration

# Queried where they are served: Locust's in loadtest/test_session.py; `moneypath readiness serve`'s (the readiness
# board) in stack/test_readiness_stack.py, from a drill history.
SERVED_ELSEWHERE = (*d.LOCUST_METRICS.values(), *READINESS_METRICS.values())
RATE = "1m"


def has_data(client: httpx.Client, prom: str, target: dict) -> bool:
    expr = d.expand(target["expr"], RATE)
    if target.get("instant"):
        r = client.get(f"{prom}/api/v1/query", params={"query": expr})
        values = [row["value"] for row in r.json()["data"]["result"]] if r.status_code == 200 else []
    else:
        now = time.time()
        r = client.get(f"{prom}/api/v1/query_range", params={"query": expr, "start": now - 60, "end": now, "step": 2})
        values = [v for row in r.json()["data"]["result"] for v in row["values"]] if r.status_code == 200 else []
    assert r.status_code == 200, f"Prometheus refused {expr!r}: {r.text}"
    return any(math.isfinite(float(v)) for _, v in values)


def rows(client: httpx.Client, prom: str, target: dict) -> list[dict]:
    """An instant table query's rows as Grafana gets them: the labels, and the value as "Value"."""
    r = client.get(f"{prom}/api/v1/query", params={"query": d.expand(target["expr"], RATE)})
    assert r.status_code == 200, f"Prometheus refused {target['expr']!r}: {r.text}"
    return [{**row["metric"], "Value": float(row["value"][1])} for row in r.json()["data"]["result"]]


def check_map_board(client: httpx.Client, prom: str, catalog, boards: dict) -> None:
    """The Node Graph's two frames against live data while the availability SLO pages: one row per node and per
    edge of the map, ids and ends from build_map; the authorizations' edge red; an edge red only from an alert
    firing for its own provider (or for none); every edge with data not grey; a node its worst edge's colour."""
    graph = build_map([catalog])
    board = boards[d.dashboard_uid(catalog, "map")]
    nodes_q, edges_q = next(p for p in board["panels"] if p["type"] == "nodeGraph")["targets"]
    burn = catalog.alert_name(slo_alert_key("authorization-availability"))
    authorize = next(e for e in graph.edges if any(s.key == "authorizations_total" for s in e.signals))
    edges: dict[str, dict] = {}

    def authorizations_red() -> bool:
        edges.clear()
        edges.update({row["id"]: row for row in rows(client, prom, edges_q)})
        return edges.get(authorize.id, {}).get("color") == COLORS[State.RED]

    try:
        wait_for(authorizations_red, 30, f"{burn} to turn the authorizations' edge red", interval_s=1)
    except AssertionError as exc:
        alerts = client.get(f"{prom}/api/v1/query", params={"query": 'ALERTS{alertstate="firing"}'}).json()
        raise AssertionError(f"{exc}: {edges.get(authorize.id)}; firing: {alerts['data']['result']}") from None
    firing = [a["metric"] for a in client.get(f"{prom}/api/v1/query", params={
        "query": 'ALERTS{alertstate="firing", severity="page"}'}).json()["data"]["result"]]
    assert {i: (r["source"], r["target"]) for i, r in edges.items()} == {e.id: (e.source, e.target) for e in graph.edges}
    assert {r["color"] for r in edges.values()} <= set(COLORS.values())
    assert edges[authorize.id]["secondarystat"] == f"{burn} firing", edges[authorize.id]
    for edge in graph.edges:
        row = edges[edge.id]
        providers = {m.value for s in edge.signals for m in s.selector.matchers if m.label == "provider" and m.op == "="}
        if row["color"] == COLORS[State.RED] and providers:  # acme's page does not redden globex's edge
            name = row["secondarystat"].removesuffix(" firing")
            assert any(a["alertname"] == name and a.get("provider", next(iter(providers))) in providers
                       for a in firing), (row, firing)
        present = " or ".join(s.promql for s in edge.signals)  # measured: a series of one of its signals now
        if present and rows(client, prom, {"expr": f"count({present})"}):
            assert row["color"] != COLORS[State.GREY], row
    nodes = {row["id"]: row for row in rows(client, prom, nodes_q)}
    assert set(nodes) == set(graph.nodes)
    assert {r["title"] for r in nodes.values()} == {n.label for n in graph.nodes.values()}
    assert nodes[authorize.source]["color"] == COLORS[State.RED]  # a node takes its worst edge's colour


def empty_queries(client: httpx.Client, prom: str, boards: dict) -> list[str]:
    """'dashboard: panel title: query' for every panel query without data."""
    return [f"{uid}: {panel['title']}: {target['expr']}"
            for uid, doc in sorted(boards.items()) for panel, target in d.panel_queries(doc)
            if not any(m in target["expr"] for m in SERVED_ELSEWHERE) and not has_data(client, prom, target)]


def test_every_panel_has_data_and_snapshot_renders(tmp_path):
    catalog = load_catalog(CATALOG_PATH)
    boards = d.dashboards(catalog)
    started = time.monotonic()
    # docs/load-tests.md's plain-Locust example: its `moneypath up --faults --fast` starts this stack, and its
    # headless Locust line runs against it at the end (3 s).
    up_line, [assignment], locust_line, _ = shell(code_block("docs/load-tests.md", "With plain Locust", "sh"))
    assert cli.main([*args_of(up_line), "--catalog", str(CATALOG_PATH), "--state-dir", str(tmp_path / "stack")]) == 0
    state = stack.load_state(tmp_path / "stack")
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        secret = stack.read_secrets(tmp_path / "stack")["token_secret"].encode()
        write = {"authorization": f"Bearer {issue(secret, 'merchant_1', ['payments:write', 'payments:read'], 3600)}"}
        admin = {"authorization": f"Bearer {issue(secret, 'drill', ['admin:faults'], 3600)}"}
        svc, sim, prom = state.url("refservice"), state.url("providersim"), state.url("prometheus")

        def background():
            with httpx.Client(timeout=10) as c:
                while not stop.is_set():
                    payments_for(c, svc, write, 1)

        with httpx.Client(timeout=10) as client:
            fault(client, svc, "consumer_failure", admin, queue="notifications", rate=1)
            fault(client, svc, "fraud_spike", admin, rate=0.2)
            fault(client, sim, "duplicate_capture", admin, provider="acme", rate=0.5)
            payments_for(client, svc, write, 3)
            fault(client, svc, "risk_latency", admin, extra_ms=1000)
            payments_for(client, svc, write, 1)
            clear(client, svc, "risk_latency", admin)
            # globex fails: retries, errors, an open circuit, and the availability SLO burns (an alert fires)
            fault(client, sim, "error_rate", admin, provider="globex", rate=1)
            payments_for(client, svc, write, 3)
            threads.append(threading.Thread(target=background, daemon=True))
            threads[0].start()
            wait_for(lambda: client.get(f"{prom}/api/v1/query", params={"query": 'ALERTS{alertstate="firing"}'})
                     .json()["data"]["result"], 30, "an alert to fire", interval_s=1)
            check_map_board(client, prom, catalog, boards)
            clear(client, sim, "error_rate", admin)
            load_s = time.monotonic() - started

            nobody = f'{catalog.metric("authorizations_total")}{{provider="nobody"}}'
            assert not has_data(client, prom, {"expr": nobody}), "the emptiness check must see an empty query"
            empty: list[str] = []

            def all_have_data() -> bool:
                empty[:] = empty_queries(client, prom, boards)
                return not empty

            try:
                wait_for(all_have_data, 30, "every panel query to return data", interval_s=2)
            except AssertionError:
                pass
            queries = sum(1 for doc in boards.values() for _, t in d.panel_queries(doc) if not
                          any(m in t["expr"] for m in SERVED_ELSEWHERE))
            print(f"\n{queries} panel queries on {len(boards)} dashboards checked after {load_s:.0f} s of stack + load")
            assert not empty, "panel queries without data:\n" + "\n".join(empty)

            # The alerts the dashboards list are exactly the alerting rules Prometheus evaluates, but the
            # watchdog: it fires always by design, a heartbeat for the dead man's switch, not a state to show.
            groups = client.get(f"{prom}/api/v1/rules").json()["data"]["groups"]
            rules = [r for g in groups for r in g["rules"] if r["type"] == "alerting"]
            assert {r["name"] for r in rules if r["labels"].get("severity") == "none"} == {catalog.alert_name("Watchdog")}
            loaded = {r["name"] for r in rules if r["labels"].get("severity") != "none"}
            listed = {name for doc in boards.values() for _, t in d.panel_queries(doc)
                      for name in re.findall(r'ALERTS\{alertname="(\w+)"', t["expr"])}
            assert listed == loaded, (sorted(loaded - listed), sorted(listed - loaded))

            # The overview as PNGs and HTML, from the same Prometheus: docs/dashboards.md's `snapshot` line.
            t0 = time.monotonic()
            line = args_of(shell(code_block("docs/dashboards.md", "Dashboards", "sh"))[1])
            assert cli.main([*fill(line, prometheus=prom, out=str(tmp_path / "snapshot")),
                             "--catalog", str(CATALOG_PATH)]) == 0
            html = (tmp_path / "snapshot" / "index.html").read_text()
            pngs = sorted((tmp_path / "snapshot").glob("*.png"))
            overview = boards[catalog.links.overview_dashboard]
            drawn = [p for p in overview["panels"] if p["type"] in ("stat", "timeseries", "bargauge", "gauge")]
            assert len(pngs) == len(drawn)
            for png in pngs:
                assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000, png
                assert f'src="{png.name}"' in html
            assert "<table>" in html and catalog.runbook_url("LedgerImbalance") in html
            svg = (tmp_path / "snapshot" / "money-path.svg").read_text()  # the map, coloured from the same Prometheus
            assert 'src="money-path.svg"' in html
            assert all(f'data-edge="{edge.id}"' in svg for edge in build_map([catalog]).edges)
            print(f"snapshot: {len(pngs)} PNGs + index.html in {time.monotonic() - t0:.1f} s")

        stop.set()
        locustfile = env_of([assignment, "true"])["LOCUSTFILE"]
        argv = substitute(locust_line, {"$LOCUSTFILE": locustfile, ".moneypath": str(tmp_path / "stack")})
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYPATH_")}  # the stack's secret
        # 6 s: in 3 s, beside another CI worker, with globex's circuit still open from the faults above, the line
        # got 10 acme authorizations once (half its requests refused fast by the open circuit)
        run = subprocess.run([str(Path(sys.executable).parent / argv[0]), *argv[1:], "--duration", "6"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode in (0, 1) and "Traceback" not in run.stderr, run.stderr[-3000:]  # 1: a failed request
        authorized = re.search(r"^\s*POST\s+authorize \[\w+\]\s+(\d+)", run.stdout + run.stderr, re.M)
        assert authorized and int(authorized[1]) > 10, (run.stdout + run.stderr)[-3000:]
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
        stack.down(tmp_path / "stack", progress=lambda *_: None)
