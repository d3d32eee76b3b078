"""The live map's rules (moneypath.map.live_health) on the reference catalog's map, read from a fake Prometheus on
loopback that answers from canned data (tests/unit/map/fake_prometheus.py): which edge turns red, amber, green,
idle, "no objective" or grey, and why; the figures; the nodes; the alerts on no edge; the JSON form. Targets and
the counter-reset check: test_live_targets.py; the rules over every combination: test_edge_state.py."""

from __future__ import annotations

import json

import pytest

from moneypath._common.verdict import dumps
from moneypath.map.graph import build_map
from moneypath.map.live_health import compact, figures, health_from_dict, health_to_dict, read_health
from moneypath.map.marks import MapHealth, Mark, State
from tests.conftest import free_port
from tests.unit.map.fake_prometheus import (
    FakePrometheus,
    firing,
    generated_rules,
    healthy_figures,
    prometheus,  # noqa: F401 - fixture
)

ALL_SLOS = {"authorization-availability": 0.0, "authorization-latency": 0.002, "ledger-durability": 0.0}
NO_TRAFFIC_SIGNAL = "not measured: no traffic can be seen on it: it declares no rate or latency signal"


@pytest.fixture(scope="module")
def graph(catalog):
    return build_map([catalog])


@pytest.fixture(scope="module")
def generated():
    return generated_rules()


@pytest.fixture
def read(prometheus):  # noqa: F811
    """read(graph, rules, figures, slo_errors): the health read from the fake serving them, and the fake."""

    def read(graph, rules, figures_, slo_errors=None, **kwargs) -> tuple[MapHealth, FakePrometheus]:
        prometheus.reset()
        prometheus.graph, prometheus.rules, prometheus.figures = graph, rules, figures_
        prometheus.slo_errors = ALL_SLOS if slo_errors is None else slo_errors
        return read_health(graph, prometheus.url, timeout_s=5, **kwargs), prometheus

    return read


def acme_edge(graph):
    (edge,) = [e for e in graph.edges_touching_provider("acme") if e.signal("rate")]
    return edge


def globex_edge(graph):
    (edge,) = [e for e in graph.edges_touching_provider("globex") if e.signal("rate")]
    return edge


def edge_to(graph, node: str, role: str = "rate"):
    return next(e for e in graph.edges if e.target.endswith(f"/{node}") and e.signal(role))


def test_traffic_within_every_objective_is_green_and_edges_without_traffic_signals_are_not(graph, generated, read):
    health, fake = read(graph, generated, healthy_figures(graph))
    gauges_only = {e.id for e in graph.edges if not (e.signal("rate") or e.signal("latency"))}
    assert gauges_only  # the outbox, both settlements, the reconciliation
    assert {e for e, m in health.edges.items() if m.state is State.GREEN} == {e.id for e in graph.edges} - gauges_only
    assert all(health.edges[e].state is State.GREY and health.edges[e].why == NO_TRAFFIC_SIGNAL for e in gauges_only)
    mark = health.edges[acme_edge(graph).id]
    assert mark.figures == ("4.2/s", "errors 0.4 %", "p99 182 ms")
    assert mark.why == ("4.2/s in the last 1m, its target up; error ratio 0.4 % within MoneyPathProviderPartialOutage's"
                        " threshold of 5 %")
    customer = next(e for e in graph.edges if e.source.endswith("/customer"))
    assert health.edges[customer.id].why == (
        "4.2/s in the last 1m, its target up; SLO authorization-availability: error ratio 0 % within its budget of "
        '0.1 % (slo:sli_error:ratio_rate5m{slo="authorization-availability"}); SLO authorization-latency: error ratio '
        '0.2 % within its budget of 1 % (slo:sli_error:ratio_rate5m{slo="authorization-latency"})')
    assert {n: m.state for n, m in health.nodes.items()}["payments/acme"] is State.GREEN
    # the rules, the targets, one query per figure role (no edge here needs a traffic query of its own: each with
    # a latency has a rate), one for the edges' targets, one for the SLOs
    assert len(fake.requests) == 1 + 1 + 5 + 1 + 1, fake.requests
    assert health.answered is True and health.unplaced == ()


def test_no_traffic_is_idle_never_green(graph, generated, read):
    health, _ = read(graph, generated, healthy_figures(graph, rate=0.0, traffic=0.0))
    assert State.GREEN not in {m.state for m in health.edges.values()}
    customer = next(e for e in graph.edges if e.source.endswith("/customer"))
    assert health.edges[customer.id] == Mark(State.IDLE, ("0/s", "errors 0.4 %", "p99 182 ms"),
                                             "idle: no traffic in the last 1m (0/s), its target up")
    assert health.nodes["payments/acme"].state is State.IDLE


def test_an_error_ratio_beyond_the_catalogs_threshold_is_amber_without_any_alert(graph, generated, read):
    payout = edge_to(graph, "merchant_bank")
    health, _ = read(graph, generated, healthy_figures(graph, errors=0.205))
    assert health.edges[payout.id].state is State.AMBER
    assert health.edges[payout.id].why == ("beyond its objective: error ratio 20.5 % beyond "
                                           "MoneyPathProviderPartialOutage's threshold of 5 %")
    assert health.edges[payout.id].alerts == ()


def test_an_slo_not_measured_leaves_its_edge_not_measured(graph, generated, read):
    ledger = edge_to(graph, "ledger")
    health, _ = read(graph, generated, healthy_figures(graph), {"authorization-availability": 0.0,
                                                                 "authorization-latency": 0.0})
    assert health.edges[ledger.id].state is State.GREY
    assert health.edges[ledger.id].why == ('not measured: SLO ledger-durability: '
                                           'slo:sli_error:ratio_rate5m{slo="ledger-durability"} absent')


def test_no_data_is_grey_never_green(graph, generated, read):
    only_acme = {q: v for q, v in healthy_figures(graph).items() if 'provider="acme"' in q and "operation" not in q}
    health, _ = read(graph, generated, only_acme)
    acme = acme_edge(graph)
    assert health.edges[acme.id].state is State.GREEN
    assert health.edges[globex_edge(graph).id] == Mark(State.GREY, why=(
        "not measured: no data now from moneypath_provider_requests_total, "
        "moneypath_provider_request_duration_seconds"))
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
    assert health.edges[edge_to(graph, "merchant_bank").id].state is State.RED
    assert health.nodes["payments/acme"].state is State.RED and name in health.nodes["payments/acme"].alerts
    assert health.nodes["payments/globex"].state is State.GREEN
    assert health.unplaced == ()


def test_a_page_alert_on_no_edge_is_listed_and_leaves_the_edges(graph, generated, read, catalog):
    rules = firing(generated, catalog, "LedgerImbalance", {"currency": "EUR"})
    watchdog = [{"type": "alerting", "name": "Watchdog", "query": "vector(1)", "labels": {"severity": "none"},
                 "alerts": [{"state": "firing", "labels": {"alertname": "Watchdog", "severity": "none"}}]}]
    health, _ = read(graph, [*rules, *watchdog], healthy_figures(graph))
    assert health.unplaced == (f"{catalog.alert_name('LedgerImbalance')}{{currency=EUR, money_loss=true}}",)
    assert State.RED not in {m.state for m in health.edges.values()}  # no edge declares the imbalance gauge
    pending = firing(generated, catalog, "LedgerWriteFailures", {})
    pending = [{**r, "alerts": [{**a, "state": "pending"} for a in r.get("alerts", [])]} for r in pending]
    health, _ = read(graph, pending, healthy_figures(graph))
    assert State.RED not in {m.state for m in health.edges.values()} and health.unplaced == ()


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
    ledger = edge_to(graph, "ledger")
    health, _ = read(graph, generated, healthy_figures(graph), {**ALL_SLOS, "ledger-durability": 0.002,
                                                                "authorization-availability": 0.0005})
    assert health.edges[ledger.id].state is State.AMBER
    assert health.edges[ledger.id].why == ("beyond its objective: SLO ledger-durability: error ratio 0.2 % beyond "
                                           "its budget of 0.01 % "
                                           '(slo:sli_error:ratio_rate5m{slo="ledger-durability"})')
    customer = next(e for e in graph.edges if e.source.endswith("/customer"))
    assert health.edges[customer.id].state is State.GREEN  # 0.05 % of a 0.1 % budget: within


def test_a_provider_alert_reading_no_edge_marks_the_provider_node_and_the_edges_calling_it(graph, generated, read,
                                                                                           catalog):
    rules = firing(generated, catalog, "DuplicateChargeDetected", {"provider": "acme"})
    health, _ = read(graph, rules, healthy_figures(graph))
    calling = {e.id for e in graph.edges if e.target == "payments/acme"}
    assert calling and all(health.edges[e].state is State.RED and "which this edge calls" in health.edges[e].why
                           for e in calling)
    assert all(m.state is not State.RED for e, m in health.edges.items() if e not in calling)
    assert health.nodes["payments/acme"].state is State.RED
    assert health.nodes["payments/acme"].alerts == (catalog.alert_name("DuplicateChargeDetected"),)
    assert health.nodes["payments/globex"].state is State.GREEN
    assert health.unplaced == ()  # shown on the edges calling acme


def test_an_unreachable_prometheus_greys_everything_and_says_so(graph):
    url = f"http://127.0.0.1:{free_port()}"
    health = read_health(graph, url, timeout_s=2)
    marks = [*health.nodes.values(), *health.edges.values()]
    assert len(marks) == len(graph.nodes) + len(graph.edges)
    assert {m.state for m in marks} == {State.GREY}
    assert all(m.why == f"not measured: cannot reach Prometheus at {url}: ConnectError" for m in marks)
    assert health.answered is False and health.problem == f"cannot reach Prometheus at {url}: ConnectError"
    assert health.worst() is State.GREY
    assert health_to_dict(health)["answered"] is False


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
    rules = firing(rules, catalog, "LedgerImbalance", {"currency": "EUR"})
    health, _ = read(graph, rules, healthy_figures(graph, rate=0.0, traffic=0.0))
    data = health_to_dict(health)
    assert data["worst"] == "red" and data["answered"] is True and len(data["unplaced"]) == 1
    assert data["edges"][acme_edge(graph).id]["state"] == "red"
    assert "idle" in {m["state"] for m in data["edges"].values()}
    assert json.loads(dumps(data)) == data
    assert health_from_dict(json.loads(json.dumps(data))) == health
    grey = MapHealth(edges={"x#0": Mark(State.GREY, why="not measured: no data")})
    assert health_to_dict(grey) == {"nodes": {}, "edges": {"x#0": {"state": "grey", "figures": [],
                                                                     "why": "not measured: no data", "alerts": []}},
                                    "at": None, "source": "", "answered": None, "problem": "", "unplaced": [],
                                    "worst": "grey"}
