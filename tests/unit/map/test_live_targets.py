"""Whose series the live map reads (moneypath.map.scrape_health): an edge whose target is down, was not scraped for two
scrape intervals or is no longer scraped is grey from the first failed scrape on, with no figure; an edge whose
target's counters go backwards is grey, no rate shown; a Prometheus without the targets endpoint is read through
`up`. And the foreign catalogs (the ticket shop joined with its payouts service) read with the same rules."""

from __future__ import annotations

import pytest

from moneypath.catalog import load_catalog
from moneypath.check.counter_resets import AlternatingTarget, counter_names, find
from moneypath.map.graph import build_map
from moneypath.map.live_health import read_health
from moneypath.map.marks import Mark, State
from moneypath.map.scrape_health import ScrapeTarget
from tests.conftest import FOREIGN_PATH, ROOT
from tests.unit.map.fake_prometheus import (
    TARGET,
    generated_rules,
    healthy_figures,
    prometheus,  # noqa: F401 - fixture
    scraped,
)

JOINED_PATH = ROOT / "tests" / "foreign" / "joined" / "moneypath.yaml"
SLOS = {"authorization-availability": 0.0, "authorization-latency": 0.0, "ledger-durability": 0.0}


@pytest.fixture(scope="module")
def graph(catalog):
    return build_map([catalog])


@pytest.fixture
def fake(prometheus, graph):  # noqa: F811
    prometheus.reset()
    prometheus.graph, prometheus.rules, prometheus.figures = graph, generated_rules(), healthy_figures(graph)
    prometheus.slo_errors = SLOS
    return prometheus


def customer_edge(graph):
    return next(e for e in graph.edges if e.source.endswith("/customer"))


def test_a_target_down_greys_its_edges_with_prometheus_own_error_and_no_figure(graph, fake):
    fake.targets = [scraped(*TARGET, health="down", error="Get \"http://127.0.0.1:8000/metrics\": dial tcp "
                                                           "127.0.0.1:8000: connect: connection refused")]
    health = read_health(graph, fake.url)
    assert health.edges[customer_edge(graph).id] == Mark(State.GREY, why=(
        "not measured: target 127.0.0.1:8000 (job payments) is down (up 0): Get \"http://127.0.0.1:8000/metrics\": "
        "dial tcp 127.0.0.1:8000: connect: connection refused"))
    assert State.GREEN not in {m.state for m in health.edges.values()}
    assert health.nodes["payments/customer"].state is State.GREY


@pytest.mark.parametrize("ago_s, grey", [(29.0, False), (31.0, True)])
def test_a_target_not_scraped_for_two_intervals_is_stale(graph, fake, ago_s, grey):
    fake.targets = [scraped(*TARGET, ago_s=ago_s, interval="15s")]
    mark = read_health(graph, fake.url).edges[customer_edge(graph).id]
    if grey:
        assert mark.state is State.GREY and mark.why.startswith(
            "not measured: target 127.0.0.1:8000 (job payments) was last scraped 31 s ago, more than 2 scrape "
            "intervals (30 s): its series are stale")
    else:
        assert mark.state is State.GREEN, mark


def test_a_target_prometheus_no_longer_scrapes_is_stale(graph, fake):
    fake.targets = [scraped("other", "127.0.0.1:9999")]
    mark = read_health(graph, fake.url).edges[customer_edge(graph).id]
    assert mark == Mark(State.GREY, why="not measured: target 127.0.0.1:8000 (job payments) is no longer scraped: "
                                        "its series went stale")


def test_one_of_two_targets_down_greys_the_edges_both_feed(graph, fake):
    second = ("payments", "127.0.0.1:8001")
    fake.seen = {e.id: {TARGET, second} for e in graph.edges}
    fake.targets = [scraped(*TARGET), scraped(*second, health="down")]
    health = read_health(graph, fake.url)
    assert health.edges[customer_edge(graph).id].why == ("not measured: target 127.0.0.1:8001 (job payments) is "
                                                         "down (up 0)")


def test_counters_that_go_backwards_are_not_a_rate(graph, fake, catalog):
    names = counter_names(catalog)
    queries = {}

    def capture(query):  # what counter_resets.find asks, answered as Prometheus would for two workers
        queries[query] = True
        if query.startswith("max by (job, instance) (label_replace(resets("):
            return [({"job": TARGET[0], "instance": TARGET[1]}, 9.0)]
        return [({"job": TARGET[0], "instance": TARGET[1]}, 0.0)]

    found = find(capture, names, "5m")
    assert found == [AlternatingTarget("payments", "127.0.0.1:8000", "5m", 9, 0, 0)]
    health = read_health(graph, fake.url, not_data=lambda query: found)
    mark = health.edges[customer_edge(graph).id]
    assert mark.state is State.GREY and mark.figures == ()
    assert mark.why == "not measured: " + found[0].reason()
    assert State.GREEN not in {m.state for m in health.edges.values()}


def test_the_finder_is_given_prometheus_answers(graph, fake):
    asked = []

    def finder(query):
        asked.append(query("vector(1)"))
        return []

    read_health(graph, fake.url, not_data=finder)
    assert asked == [[]]  # the fake answers no such query: an empty vector, as (labels, value) pairs


def test_without_the_targets_endpoint_up_says_which_target_is_down(graph, fake, monkeypatch):
    calls = []
    original = fake.answer

    def answer(path, query):
        calls.append((path, query))
        if path == "/api/v1/targets":
            return None  # 404: a query frontend
        if query == "up":
            return {"resultType": "vector", "result": [{"metric": {"job": TARGET[0], "instance": TARGET[1]},
                                                        "value": [0, "0"]}]}
        if query == "timestamp(up)":
            return {"resultType": "vector", "result": []}
        return original(path, query)

    monkeypatch.setattr(fake, "answer", answer)
    mark = read_health(graph, fake.url).edges[customer_edge(graph).id]
    assert mark.why == "not measured: target 127.0.0.1:8000 (job payments) is down (up 0)"
    assert ("/api/v1/query", "up") in calls


def test_target_dead_is_judged_on_its_own_interval():
    now = 1_000.0
    assert ScrapeTarget("j", "i", True, now - 1.9, 1.0).dead(now) is None
    assert ScrapeTarget("j", "i", True, now - 2.1, 1.0).dead(now).startswith("target i (job j) was last scraped 2 s ago")
    assert ScrapeTarget("j", "i", None, None, 1.0).dead(now) == "target i (job j) has not been scraped yet"
    assert ScrapeTarget("j", "i", True, now - 600, None).dead(now) is None  # no interval known: up alone is judged


def test_the_joined_foreign_catalogs_read_with_the_same_rules(fake):
    tickets, payouts = load_catalog(FOREIGN_PATH), load_catalog(JOINED_PATH)
    graph = build_map([tickets, payouts])
    fake.graph, fake.figures = graph, healthy_figures(graph)
    fake.slo_errors = {"charge-availability": 0.001}
    health = read_health(graph, fake.url)
    states = {e.id: health.edges[e.id].state for e in graph.edges}
    buyer = next(e for e in graph.edges if e.source == "tickets/buyer")
    komoju = next(e for e in graph.edges if e.target == "tickets/komoju")
    assert states[buyer.id] is State.GREEN  # the ticket shop's charge-availability SLO: 0.1 % of 0.5 %
    assert states[komoju.id] is State.GREEN  # its ProviderPartialOutage threshold: 0.4 % of 10 %
    assert "error ratio 0.4 % within ShopProviderPartialOutage's threshold of 10 %" in health.edges[komoju.id].why
    # payouts declares no SLO and no threshold on its signals: traffic is seen there, and nothing bounds it
    for edge in (e for e in graph.edges if e.service == "payouts"):
        assert states[edge.id] is State.NO_OBJECTIVE, (edge.id, health.edges[edge.id])
    crossing = next(e for e in graph.edges if e.source == "tickets/ledger")
    assert health.edges[crossing.id].why == ("no objective: 4.2/s in the last 1m, its target up, but the catalog "
                                             "declares no SLO or threshold on payouts_balances_received_total")
    fake.figures = healthy_figures(graph, rate=0.0)
    assert read_health(graph, fake.url).edges[komoju.id].state is State.IDLE
