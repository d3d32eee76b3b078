"""The edges a drill's fault hit, over the shipped drills on the reference catalog, and what an alert reads."""

from __future__ import annotations

import pytest

from moneypath.check.drill_files import alert_names, load_drill, resolve_alert
from moneypath.drills.map_hits import AlertReads, Fault, hit_edges
from moneypath.formats.drill import drill_files
from moneypath.map.graph import build_map
from moneypath.map.reads import Read, reads
from tests.conftest import ROOT

DRILLS = drill_files(ROOT)


@pytest.fixture(scope="module")
def reference(catalog):
    return build_map([catalog]), AlertReads(catalog)


def _fault(drill) -> Fault:
    f = drill.fault
    return Fault(f.where, f.name, f.target) if f else Fault(None, None)


def _edge(graph, source: str, target: str) -> str:
    return next(e.id for e in graph.edges if e.source == f"payments/{source}" and e.target == f"payments/{target}")


def test_the_shipped_drills_are_there():
    assert len(DRILLS) >= 10 and not [p for p in DRILLS if p.name == "canary-releases.yaml"]


@pytest.mark.parametrize("path", DRILLS, ids=lambda p: p.stem)
def test_every_drill_that_pages_hits_an_edge(path, catalog, reference):
    graph, reads = reference
    drill = load_drill(path, catalog, ROOT)
    known = alert_names(catalog)
    pages = [a for a in drill.alerts.expected if known[resolve_alert(a.alert, catalog, known)]["severity"] == "page"]
    hits = hit_edges(graph, reads, _fault(drill), [(a.alert, a.labels) for a in drill.alerts.expected])
    if drill.fault is None:
        assert hits == {}
        return
    if pages:
        assert hits, f"{path.name} pages ({pages[0].alert}) but hits no edge"
    assert all(why for why in hits.values()) and set(hits) <= {e.id for e in graph.edges}


@pytest.mark.parametrize("name", ["provider-partial-outage", "approval-rate-drop", "duplicate-charge"])
def test_a_provider_fault_hits_that_providers_edges(name, catalog, reference):
    graph, reads = reference
    drill = load_drill(ROOT / "runbooks" / "drills" / f"{name}.yaml", catalog, ROOT)
    provider = drill.fault.target
    hits = hit_edges(graph, reads, _fault(drill), [(a.alert, a.labels) for a in drill.alerts.expected])
    touching = {e.id for e in graph.edges_touching_provider(provider)}
    assert touching and touching <= set(hits)
    other = next(p for p in catalog.providers if p != provider)
    assert not {_edge(graph, "payments", other), _edge(graph, other, "settlement")} & set(hits)
    assert f"provider {provider}" in hits[_edge(graph, "payments", provider)]


def test_an_expected_alerts_labels_narrow_what_it_reads(catalog, reference):
    graph, reads = reference
    globex = hit_edges(graph, reads, Fault("providersim", "settlement_alter", "globex"),
                       [("SettlementMismatch", {"provider": "globex"})])
    assert _edge(graph, "settlement", "ledger") in globex  # the mismatch counter, any provider
    assert _edge(graph, "acme", "settlement") not in globex
    anywhere = graph.edge(_edge(graph, "acme", "settlement"))
    assert reads.reads(anywhere, "SettlementMismatch") == ["errors"]
    assert reads.reads(anywhere, "MoneyPathSettlementMismatch", {"provider": "acme"}) == ["errors"]
    assert reads.reads(anywhere, "SettlementMismatch", {"provider": "globex"}) == []


def test_a_queue_fault_hits_the_edges_that_carry_that_queue(catalog, reference):
    graph, reads = reference
    hits = hit_edges(graph, reads, Fault("service", "consumer_failure", "notifications"), [])
    assert list(hits) == [_edge(graph, "payments", "outbox")] and "queue=notifications" in hits[list(hits)[0]]


def test_slo_alerts_read_through_their_recording_rules(catalog, reference):
    graph, reads = reference
    intake = graph.edge(_edge(graph, "customer", "payments"))
    assert "errors" in reads.reads(intake, "AuthorizationAvailabilityBudgetBurn")
    assert reads.reads(graph.edge(_edge(graph, "payments", "ledger")), "AuthorizationAvailabilityBudgetBurn") == []
    assert reads.reads(intake, "NoSuchAlert") == []


def test_a_service_fault_no_alert_reads_hits_where_money_enters_the_service(catalog, reference):
    graph, reads = reference
    hits = hit_edges(graph, reads, Fault("service", "fraud_spike"), [("FraudSpike", None)])
    assert list(hits) == [_edge(graph, "customer", "payments")] and "money enters it" in hits[list(hits)[0]]
    # a fault whose alert reads an edge does not fall back
    ledger = hit_edges(graph, reads, Fault("service", "ledger_write_failure"), [("LedgerWriteFailures", None)])
    assert list(ledger) == [_edge(graph, "payments", "ledger")]


def test_selections_of_an_expression():
    found = reads('sum(rate(m_total{a="x",b=~"y|z"}[5m])) / sum(rate(m_total[5m])) and on() up')
    assert [(r.name, tuple((m.label, m.op, m.value) for m in r.matchers)) for r in found] == [
        ("m_total", (("a", "=", "x"), ("b", "=~", "y|z"))), ("m_total", ()), ("up", ())]
    assert all(isinstance(r, Read) for r in found)
