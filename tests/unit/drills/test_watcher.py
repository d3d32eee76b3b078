"""The alert matrix and its deadlines (moneypath.drills.watcher), regulatory clocks, and a steady state that was not
clean: tickets and resolves. No stack: the runner's state is filled in by hand."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from moneypath.check.drill_files import load_drill
from moneypath.drills.endpoints import Target
from moneypath.drills.runner import DrillRun
from moneypath.drills.watcher import AlertSeen
from tests.support.drill_fakes import Clock, FakePages, FakeProm

# ---------------------------------------------------------------- the alert matrix and its deadlines


def _page(alert, receiver, t, status="firing", severity="page", **labels):
    return {"alertname": alert, "receiver": receiver, "received_at": t, "status": status,
            "labels": {"alertname": alert, "severity": severity, **labels}}


def test_expected_alert_paged_in_time(run, catalog):
    alert = catalog.alert_name("DuplicateChargeDetected")
    run.watcher.seen[("x",)] = AlertSeen(alert, {"alertname": alert, "provider": "acme"}, first_firing=1003.0)
    run.watcher.pages = [_page(alert, "payments-oncall", 1004.0, provider="acme"),
                         _page(alert, "compliance", 1004.5, provider="acme")]
    row = run.alert_matrix()[0]
    assert row.expectation == "expected" and row.ok, row.reason
    assert row.receivers == ["compliance", "payments-oncall"] and row.deadline_s == 30
    assert row.first_firing_at == 1003.0 and row.paged_at == 1004.0


def test_expected_alert_late_or_to_the_wrong_people(run, catalog):
    alert = catalog.alert_name("DuplicateChargeDetected")
    run.watcher.pages = [_page(alert, "payments-oncall", 1040.0, provider="acme"),
                         _page(alert, "compliance", 1041.0, provider="acme")]
    row = run.alert_matrix()[0]
    assert not row.ok and row.reason == "paged 41 s after the fault, deadline 30 s"
    run.watcher.pages = [_page(alert, "payments-oncall", 1005.0, provider="acme")]
    row = run.alert_matrix()[0]
    assert not row.ok and "not compliance" in row.reason
    run.watcher.pages = [_page(alert, "payments-oncall", 1005.0, provider="globex")]  # the other provider
    row = run.alert_matrix()[0]
    assert not row.ok and "never fired" in row.reason


def test_forbidden_unexpected_allowed_and_tickets(run, catalog):
    outage, mismatch = catalog.alert_name("ProviderPartialOutage"), catalog.alert_name("SettlementMismatch")
    latency = catalog.alert_name("ReconciliationLagHigh")  # a ticket nobody listed
    fraud = catalog.alert_name("FraudSpike")
    run.watcher.pages = [_page(outage, "payments-oncall", 1010.0, provider="globex"),
                         _page(mismatch, "payments-oncall", 1010.0),
                         _page(latency, "payments-tickets", 1011.0, severity="ticket"),
                         _page(fraud, "payments-oncall", 1012.0)]
    rows = {r.alert: r for r in run.alert_matrix()}
    assert rows[outage].expectation == "must_not_page" and not rows[outage].ok
    assert rows[mismatch].expectation == "allowed" and rows[mismatch].ok
    assert rows[latency].expectation == "unexpected" and rows[latency].ok  # a ticket is not a page
    assert "a ticket to payments-tickets, not a page" in rows[latency].reason
    assert rows[latency].paged_at is None and rows[latency].receivers == ["payments-tickets"]
    assert rows[fraud].paged_at == 1012.0
    assert rows[fraud].expectation == "unexpected" and not rows[fraud].ok
    quiet = catalog.alert_name("LedgerImbalance")
    assert rows[quiet].ok and rows[quiet].reason == "did not page"


def test_regulatory_due_times_count_from_classification_or_awareness(live, catalog):
    alert = catalog.alert_name("DuplicateChargeDetected")
    live.faults.inject()
    live.watcher.seen[("x",)] = AlertSeen(alert, {"alertname": alert, "provider": "acme"}, first_firing=1003.0)
    live.watcher.pages = [_page(alert, "payments-oncall", 1004.0, provider="acme"),
                          _page(alert, "compliance", 1004.5, provider="acme")]
    journal = live.finish()
    assert journal["classification_at"] == 1004.0 and journal["awareness_at"] == 1003.0
    assert [(r["regime"], r["basis"], r["due_at"]) for r in journal["regulatory"]] == [
        ("DORA initial notification", "4 h from classification", 1004.0 + 4 * 3600),
        ("DORA initial notification (latest)", "24 h from awareness", 1003.0 + 24 * 3600),
        ("DORA intermediate report", "76 h from classification", 1004.0 + 76 * 3600)]
    for r in live.drill.tabletop.regulatory:
        r.hours = None  # "without undue delay": no due time
    assert {r["due_at"] for r in live.finish()["regulatory"]} == {None}


def test_no_page_no_regulatory_clock(live):
    live.faults.inject()
    journal = live.finish()
    assert journal["classification_at"] is None
    assert [r["due_at"] for r in journal["regulatory"]] == [None, None, None]


def test_the_watchdog_heartbeat_is_never_part_of_a_drill(live):
    """It fires always and reaches the switch, not on-call: no timeline line, no row, whatever the source."""
    heartbeat = {"alertname": "MoneyPathWatchdog", "severity": "none"}
    live.prom.alerts = lambda: [{"labels": heartbeat, "state": "firing"},
                                {"labels": {"alertname": "MoneyPathDuplicateChargeDetected", "severity": "page",
                                            "provider": "acme"}, "state": "firing"}]
    live.pages_source.records = lambda now: [{"received_at": now, "receiver": "deadmans-switch", "status": "firing",
                                              "alertname": "MoneyPathWatchdog", "labels": heartbeat}]
    live.watcher.poll(live.now())
    assert [s.alertname for s in live.watcher.seen.values()] == ["MoneyPathDuplicateChargeDetected"]
    assert live.watcher.pages == []
    assert "MoneyPathWatchdog" not in {row.alert for row in live.watcher.alert_matrix(live.now())}


# ---------------------------------------------------------------- a steady state that was not clean; tickets; resolves


@pytest.fixture
def shop(shop_project):
    from moneypath.catalog import load_catalog

    return load_catalog(shop_project / "moneypath.yaml")


@pytest.fixture
def shop_run(shop_project, shop):
    """A ticket-shop drill (knet-partial-outage) with the pages a test gives; the clock at 990."""
    drill = load_drill(shop_project / "runbooks" / "drills" / "knet-partial-outage.yaml", shop, shop_project)
    target = Target(service="http://127.0.0.1:9", prometheus="http://127.0.0.1:9", pager="http://127.0.0.1:9",
                    time_factor=60)
    clock = Clock(990.0)
    r = DrillRun(drill, shop, target, say=lambda _: None, clock=clock)
    r.prom.close(), r.pages_source.close()
    r.prom, r.pages_source, r.now = FakeProm(), FakePages(), clock
    yield r
    r.close()


def test_an_alert_firing_before_the_fault_is_not_its_detection(shop_run, shop):
    outage = shop.alert_name("ProviderPartialOutage")
    early = _page(outage, "shop-oncall", 996.4, provider="knet")  # T-3.6 s
    shop_run.watcher.pages = [early]
    shop_run.watcher.seen[("x",)] = AlertSeen(outage, {"alertname": outage, "provider": "knet"}, first_firing=995.0)
    shop_run.faults.record.injected_at = 1000.0
    assert shop_run.watcher.already_firing() == [outage]
    assert shop_run.watcher.first_expected_page() is None and not shop_run.watcher.all_expected_paged()
    row = shop_run.alert_matrix()[0]
    assert (row.ok, row.paged_at, row.first_firing_at) == (False, None, None)
    assert row.reason == ("already firing before the fault (the steady state was not clean): no page after the fault "
                          "to count as its detection")
    shop_run.watcher.pages.append(_page(outage, "shop-oncall", 1012.0, provider="knet"))
    row = shop_run.alert_matrix()[0]
    assert row.paged_at == 1012.0 and shop_run.watcher.first_expected_page() == 1012.0
    assert row.reason.endswith("; it was already firing before the fault, so this page may not be the fault's")
    burn = shop.alert_name("AuthorizationAvailabilityBudgetBurn")  # allowed by the drill, paging since before it
    shop_run.watcher.pages.append(_page(burn, "shop-oncall", 997.0))
    rows = {r.alert: r for r in shop_run.alert_matrix()}
    assert rows[burn].reason == "allowed as a consequence of the fault; notified shop-oncall; it was already firing " \
                                "before the fault"
    assert shop_run.watcher.already_firing() == sorted([outage, burn])


def test_a_forbidden_page_for_what_was_firing_before_the_fault_is_shown_not_judged(shop_run, shop):
    """An earlier incident still burning pages during the baseline, and again after the fault: not the fault's
    false alarm. A label set that first fires after the fault is judged."""
    forbidden = shop.alert_name("ApprovalRateDrop")  # must_not_page "*" in knet-partial-outage
    shop_run.faults.record.injected_at = 1000.0
    shop_run.watcher.seen[("x",)] = AlertSeen(forbidden, {"alertname": forbidden, "provider": "komoju"},
                                              first_firing=992.0)
    shop_run.watcher.pages = [_page(forbidden, "shop-oncall", 995.0, provider="komoju"),
                              _page(forbidden, "shop-oncall", 1030.0, provider="komoju")]  # a repeat
    row = {r.alert: r for r in shop_run.alert_matrix()}[forbidden]
    assert row.expectation == "must_not_page" and row.ok
    assert row.reason == ("did not page since the fault (paged shop-oncall for what was firing before it: not "
                          "judged); it was already firing before the fault")
    shop_run.watcher.pages.append(_page(forbidden, "shop-oncall", 1031.0, provider="knet"))  # new since the fault
    row = {r.alert: r for r in shop_run.alert_matrix()}[forbidden]
    assert not row.ok and row.reason.startswith("must not page, but paged shop-oncall")


def test_nothing_is_already_firing_before_a_fault_or_when_alerts_start_after_it(shop_run, shop):
    outage = shop.alert_name("ProviderPartialOutage")
    shop_run.watcher.seen[("x",)] = AlertSeen(outage, {"alertname": outage}, first_firing=995.0)
    assert shop_run.watcher.already_firing() == []  # no fault yet
    shop_run.faults.record.injected_at = 990.0
    assert shop_run.watcher.already_firing() == []


def test_the_injection_says_which_alerts_were_already_firing(shop_run, shop, monkeypatch):
    outage = shop.alert_name("ProviderPartialOutage")
    shop_run.watcher.seen[("x",)] = AlertSeen(outage, {"alertname": outage}, first_firing=985.0)
    monkeypatch.setattr(shop_run, "steady_state", lambda name: True)
    monkeypatch.setattr(shop_run, "_start_load", lambda: None)
    monkeypatch.setattr(shop_run, "sleep_ticking", lambda *a, **k: None)
    monkeypatch.setattr(shop_run.diagnosis, "run", lambda first: None)
    monkeypatch.setattr(shop_run, "mitigate", lambda: 1000.0)
    monkeypatch.setattr(shop_run, "_recover", lambda at: None)
    monkeypatch.setattr(shop_run.faults, "inject", lambda: (setattr(shop_run.faults.record, "injected_at", 1000.0),
                                                            setattr(shop_run.faults, "end", 1060.0)))
    monkeypatch.setattr(shop_run, "load", SimpleNamespace(set_rate=lambda rate: None, snapshot=lambda: [], rate=1.0),
                        raising=False)
    shop_run._run_phases()
    notes = [e.text for e in shop_run.timeline if e.kind == "note"]
    assert f"steady state not clean: already firing before the fault: {outage} (their pages before it are not its " \
           "detection)" in notes


class _Records(FakePages):
    def __init__(self, records):
        self.given = records

    def records(self, now):
        return self.given


def test_a_ticket_is_a_ticket_and_a_resolve_never_precedes_its_page(shop_run, shop):
    outage, budget = shop.alert_name("ProviderPartialOutage"), shop.alert_name("AuthorizationLatencyBudgetBurn")
    shop_run.pages_source = _Records([
        _page(outage, "shop-oncall", 1010.0, "resolved", provider="knet"),  # listed first, arrived with its page
        _page(outage, "shop-oncall", 1010.0, provider="knet"),
        _page(budget, "shop-tickets", 1011.0, severity="ticket"),
        _page(outage, "shop-oncall", 1012.0, "resolved", provider="komoju")])  # its page came before the drill
    shop_run.watcher._poll_pages(1013.0)
    lines = [(e.kind, e.text) for e in shop_run.timeline if e.kind in ("page", "ticket", "resolved")]
    assert lines == [
        ("page", f"PAGE {outage}{{provider=knet}} → shop-oncall (page)"),
        ("resolved", f"RESOLVED {outage}{{provider=knet}} → shop-oncall (page)"),
        ("ticket", f"TICKET {budget} → shop-tickets (ticket)"),
        ("resolved", f"RESOLVED {outage}{{provider=komoju}} → shop-oncall (page; its notification came before this "
                     "drill started)")]


def test_a_ticket_on_a_foreign_shop_is_notified_but_never_paged(shop_run, shop):
    budget, outage = shop.alert_name("AuthorizationLatencyBudgetBurn"), shop.alert_name("ProviderPartialOutage")
    shop_run.watcher.pages = [_page(budget, "shop-tickets", 1011.0, severity="ticket"),
                              _page(outage, "shop-oncall", 1012.0, provider="knet")]
    rows = {r.alert: r for r in shop_run.alert_matrix()}
    assert (rows[budget].paged_at, rows[budget].receivers) == (None, ["shop-tickets"])
    assert rows[outage].paged_at == 1012.0
