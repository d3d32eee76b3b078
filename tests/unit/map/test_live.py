"""The live map's rules (moneypath.map.live_health) on the reference catalog's map, read from a fake Prometheus on loopback
that answers /api/v1/rules and /api/v1/query from canned data: which edge turns red, amber, green or grey, and why;
the figures; the nodes; the JSON form. The real proof against a running stack: tests/integration/map/."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from moneypath._common.verdict import dumps
from moneypath.catalog.conventions import sli_error_record
from moneypath.map.graph import build_map
from moneypath.map.live_health import (
    EDGE_LABEL,
    compact,
    figures,
    health_from_dict,
    health_to_dict,
    read_health,
    role_query,
    shortest_window,
)
from moneypath.map.marks import MapHealth, Mark, State
from tests.conftest import ROOT, free_port
from tests.loopback_http import LoopbackServer, QuietHandler

_TERM = re.compile(r'label_replace\((.*?), "' + EDGE_LABEL + r'", "([^"]+)", "", ""\)(?: or |$)', re.S)


class FakePrometheus:
    """Canned answers, set by each test: `figures` (PromQL of one figure → value), `slo_errors` (slo → error
    ratio), `rules` (/api/v1/rules); `requests` it was sent."""

    def __init__(self):
        self.rules, self.figures, self.slo_errors, self.requests = [], {}, {}, []
        fake = self

        class Handler(QuietHandler):
            def do_GET(self):
                url = urlparse(self.path)
                query = parse_qs(url.query).get("query", [""])[0]
                fake.requests.append((url.path, query))
                if url.path == "/api/v1/rules":
                    data = {"groups": [{"name": "g", "rules": fake.rules}]}
                elif url.path == "/api/v1/query" and query == sli_error_record(shortest_window()):
                    data = {"resultType": "vector", "result": [
                        {"metric": {"__name__": query, "slo": k}, "value": [0, str(v)]}
                        for k, v in fake.slo_errors.items()]}
                elif url.path == "/api/v1/query":
                    data = {"resultType": "vector", "result": [
                        {"metric": {EDGE_LABEL: edge}, "value": [0, str(fake.figures[q])]}
                        for q, edge in _TERM.findall(query) if q in fake.figures]}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = json.dumps({"status": "success", "data": data}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body)

        self.handler = Handler


@pytest.fixture(scope="module")
def prometheus():
    fake = FakePrometheus()
    with LoopbackServer(fake.handler) as server:
        fake.url = server.url
        yield fake


@pytest.fixture(scope="module")
def graph(catalog):
    return build_map([catalog])


@pytest.fixture(scope="module")
def generated():
    """The committed rules as /api/v1/rules shows them: recording rules, and alerting rules with no alerts."""
    out = []
    for path in (ROOT / "collector" / "recording-rules.yaml", ROOT / "alerts" / "moneypath-alerts.yaml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for r in group["rules"]:
                if "record" in r:
                    out.append({"type": "recording", "name": r["record"], "query": r["expr"],
                                "labels": r.get("labels", {})})
                else:
                    out.append({"type": "alerting", "name": r["alert"], "query": r["expr"],
                                "labels": r.get("labels", {}), "alerts": []})
    return out


def firing(rules: list[dict], catalog, key: str, labels: dict, which: int = 0) -> list[dict]:
    """The rules with the `which`-th rule of alert `key` firing with these labels."""
    name = catalog.alert_name(key)
    out, seen = [], 0
    for rule in rules:
        if rule.get("name") == name and rule["type"] == "alerting":
            if seen == which:
                rule = {**rule, "alerts": [{"state": "firing", "labels": {"alertname": name, **rule["labels"],
                                                                          **labels}}]}
            seen += 1
        out.append(rule)
    return out


def healthy_figures(graph) -> dict[str, float]:
    """Every figure of every edge with a value, as a quiet healthy service would show."""
    values = {"rate": 4.2, "errors": 0.004, "latency": 0.182, "lag": 30.0, "depth": 3.0}
    return {q: values[role] for e in graph.edges for role in values if (q := role_query(e, role)) is not None}


@pytest.fixture
def read(prometheus):
    """read(graph, rules, figures, slo_errors): the health read from the fake serving them, and the fake."""

    def read(graph, rules, figures_, slo_errors=None) -> tuple[MapHealth, FakePrometheus]:
        prometheus.rules, prometheus.figures, prometheus.slo_errors = rules, figures_, slo_errors or {}
        prometheus.requests = []
        return read_health(graph, prometheus.url, timeout_s=5), prometheus

    return read


def acme_edge(graph):
    (edge,) = [e for e in graph.edges_touching_provider("acme") if e.signal("rate")]
    return edge


def globex_edge(graph):
    (edge,) = [e for e in graph.edges_touching_provider("globex") if e.signal("rate")]
    return edge


def test_a_measured_quiet_map_is_green_with_its_figures_in_few_requests(graph, generated, read):
    health, fake = read(graph, generated, healthy_figures(graph), {"authorization-availability": 0.0})
    assert {e: m.state for e, m in health.edges.items()} == {e.id: State.GREEN for e in graph.edges}
    assert {n: m.state for n, m in health.nodes.items()} == {n: State.GREEN for n in graph.nodes}
    mark = health.edges[acme_edge(graph).id]
    assert mark.figures == ("4.2/s", "errors 0.4 %", "p99 182 ms")
    assert mark.alerts == ()
    outbox = next(e for e in graph.edges if e.signal("depth"))
    assert health.edges[outbox.id].figures == ("errors 0.004/s", "depth 3")
    customer = next(e for e in graph.edges if e.source.endswith("/customer"))
    # its SLOs: availability read and within; latency's ratio absent: not measured, said, not passed
    assert "authorization-availability within" in health.edges[customer.id].why
    assert "authorization-latency not measured" in health.edges[customer.id].why
    # the rules once, one query per role, one for the SLOs: whatever the number of edges
    assert len(fake.requests) == 1 + 5 + 1, fake.requests
    assert health.source.startswith("http://127.0.0.1:") and health.at is not None


def test_no_data_is_grey_never_green(graph, generated, read):
    only_acme = {q: v for q, v in healthy_figures(graph).items() if 'provider="acme"' in q and "operation" not in q}
    health, _ = read(graph, generated, only_acme)
    acme = acme_edge(graph)
    assert health.edges[acme.id].state is State.GREEN
    grey = {e for e, m in health.edges.items() if m.state is State.GREY}
    assert grey == {e.id for e in graph.edges} - {acme.id, "payments#5"}  # acme's settlement edge: its mismatches
    assert health.edges[globex_edge(graph).id].why == ("not measured: no data now from "
                                                       "moneypath_provider_requests_total, "
                                                       "moneypath_provider_request_duration_seconds")
    assert health.edges[globex_edge(graph).id].figures == ()
    # a node is grey when none of its edges is measured
    assert health.nodes["payments/globex"].state is State.GREY
    assert health.nodes["payments/acme"].state is State.GREEN


def test_a_paging_alert_reading_the_edge_turns_it_red_and_not_the_other_providers(graph, generated, read, catalog):
    rules = firing(generated, catalog, "ProviderPartialOutage", {"provider": "acme"})
    health, _ = read(graph, rules, healthy_figures(graph))
    acme, globex = acme_edge(graph), globex_edge(graph)
    name = catalog.alert_name("ProviderPartialOutage")
    assert health.edges[acme.id].state is State.RED
    assert health.edges[acme.id].alerts == (name,)
    assert health.edges[acme.id].why.startswith(f"page alert {name}{{provider=acme, reason=error_ratio}} fires, "
                                                "reading moneypath_provider_requests_total")
    assert health.edges[acme.id].figures  # figures stay beside a red edge
    assert health.edges[globex.id].state is State.GREEN
    # the payout edge selects no provider: an alert for any provider reads it
    payout = next(e for e in graph.edges if e.target.endswith("/merchant_bank"))
    assert health.edges[payout.id].state is State.RED
    assert health.nodes["payments/acme"].state is State.RED and name in health.nodes["payments/acme"].alerts
    assert health.nodes["payments/globex"].state is State.GREEN


def test_an_alert_for_another_signal_or_without_severity_leaves_the_edge(graph, generated, read, catalog):
    rules = firing(generated, catalog, "LedgerImbalance", {"currency": "EUR"})
    health, _ = read(graph, rules, healthy_figures(graph))
    assert all(m.state is State.GREEN for m in health.edges.values())  # no edge declares the imbalance gauge
    watchdog = [{"type": "alerting", "name": "Watchdog", "query": "vector(1)", "labels": {"severity": "none"},
                 "alerts": [{"state": "firing", "labels": {"alertname": "Watchdog", "severity": "none"}}]}]
    pending = firing(generated, catalog, "LedgerWriteFailures", {})
    pending = [{**r, "alerts": [{**a, "state": "pending"} for a in r.get("alerts", [])]} for r in pending]
    health, _ = read(graph, [*pending, *watchdog], healthy_figures(graph))
    assert all(m.state is State.GREEN for m in health.edges.values())


def test_a_paging_slo_burn_reads_its_slis_signal_through_the_recording_rules(graph, generated, read, catalog):
    rules = firing(generated, catalog, "LedgerDurabilityBudgetBurn", {"slo": "ledger-durability"})
    health, _ = read(graph, rules, healthy_figures(graph))
    red = {e for e, m in health.edges.items() if m.state is State.RED}
    assert red == {e.id for e in graph.edges if e.signal("rate") and e.signal("rate").key == "ledger_writes_total"}


def test_a_ticket_alert_turns_its_edge_amber_and_a_page_wins(graph, generated, read, catalog):
    rules = firing(generated, catalog, "DeadLettersGrowing", {"queue": "notifications"})
    outbox = next(e for e in graph.edges if e.signal("depth"))
    health, _ = read(graph, rules, healthy_figures(graph))
    assert health.edges[outbox.id].state is State.AMBER
    assert health.edges[outbox.id].why.startswith("ticket alert ")
    assert health.nodes["payments/outbox"].state is State.AMBER
    assert health.nodes["payments/payments"].state is State.AMBER  # the worst of its edges
    rules = firing(rules, catalog, "ProviderPartialOutage", {"provider": "globex"})
    health, _ = read(graph, rules, healthy_figures(graph))
    assert health.nodes["payments/payments"].state is State.RED


def test_an_slo_beyond_its_objective_turns_its_edges_amber(graph, generated, read):
    ledger = next(e for e in graph.edges if e.target.endswith("/ledger") and e.signal("rate"))
    health, _ = read(graph, generated, healthy_figures(graph), {"ledger-durability": 0.002,
                                                                "authorization-availability": 0.0005})
    assert health.edges[ledger.id].state is State.AMBER
    assert health.edges[ledger.id].why == ("SLO ledger-durability: error ratio 0.2 % "
                                           '(slo:sli_error:ratio_rate5m{slo="ledger-durability"}) is beyond its '
                                           "budget of 0.01 %")
    customer = next(e for e in graph.edges if e.source.endswith("/customer"))
    assert health.edges[customer.id].state is State.GREEN  # 0.05 % of a 0.1 % budget: within


def test_a_provider_alert_reading_no_edge_marks_the_provider_node_and_the_edges_calling_it(graph, generated, read,
                                                                                           catalog):
    rules = firing(generated, catalog, "DuplicateChargeDetected", {"provider": "acme"})
    health, _ = read(graph, rules, healthy_figures(graph))
    calling = {e.id for e in graph.edges if e.target == "payments/acme"}
    assert calling and all(health.edges[e].state is State.RED and "which this edge calls" in health.edges[e].why
                           for e in calling)
    assert all(m.state is State.GREEN for e, m in health.edges.items() if e not in calling)
    assert health.nodes["payments/acme"].state is State.RED
    assert health.nodes["payments/acme"].alerts == (catalog.alert_name("DuplicateChargeDetected"),)
    assert health.nodes["payments/globex"].state is State.GREEN


def test_an_unreachable_prometheus_greys_everything_with_the_reason(graph):
    url = f"http://127.0.0.1:{free_port()}"
    health = read_health(graph, url, timeout_s=2)
    marks = [*health.nodes.values(), *health.edges.values()]
    assert len(marks) == len(graph.nodes) + len(graph.edges)
    assert {m.state for m in marks} == {State.GREY}
    assert all(m.why == f"not measured: cannot reach Prometheus at {url}: ConnectError" for m in marks)
    assert health.worst() is State.GREY


def test_figures_are_compact_and_only_those_read(graph):
    edge = acme_edge(graph)
    assert figures(edge, {}) == ()
    assert figures(edge, {(edge.id, "rate"): 1234.5, (edge.id, "latency"): 2.5}) == ("1234/s", "p99 2.5 s")
    lagged = next(e for e in graph.edges if e.signal("lag"))
    assert figures(lagged, {(lagged.id, "lag"): 900.0}) == ("lag 15 min",)
    assert figures(lagged, {(lagged.id, "lag"): 4 * 3600.0}) == ("lag 4 h",)
    assert [compact(x) for x in (0, 0.0004, 0.042, 4.25, 42, 420.4, 12_345, 2.5e6)] == [
        "0", "<0.001", "0.042", "4.2", "42", "420", "12.3k", "2.5M"]


def test_the_json_form_is_strict_and_reads_back(graph, generated, read, catalog):
    rules = firing(generated, catalog, "ProviderPartialOutage", {"provider": "acme"})
    health, _ = read(graph, rules, healthy_figures(graph))
    data = health_to_dict(health)
    assert data["worst"] == "red"
    assert data["edges"][acme_edge(graph).id]["state"] == "red"
    assert json.loads(dumps(data)) == data
    assert health_from_dict(json.loads(json.dumps(data))) == health
    grey = MapHealth(edges={"x#0": Mark(State.GREY, why="not measured: no data")})
    assert health_to_dict(grey) == {"nodes": {}, "edges": {"x#0": {"state": "grey", "figures": [],
                                                                     "why": "not measured: no data", "alerts": []}},
                                    "at": None, "source": "", "worst": "grey"}
