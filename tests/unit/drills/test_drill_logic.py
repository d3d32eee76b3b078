"""The drill runner's pure logic: expectations on query results, the alert matrix with its deadlines,
and the money impact (no stack: the runner's state is filled in by hand)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import httpx
import pytest

from moneypath.check.drill_files import load_drill
from moneypath.drills import money
from moneypath.drills.baseline_load import Outcome
from moneypath.drills.endpoints import Target
from moneypath.drills.journal import Objective, finite, write_journal
from moneypath.drills.runner import DrillRun
from moneypath.drills.watcher import AlertSeen
from moneypath.formats.expect import Expect, check, check_all
from tests.conftest import ROOT
from tests.support.drill_fakes import Clock, FakePages, FakeProm, MoneyCtx

SERIES = [({"provider": "acme"}, 3.0), ({"provider": "globex"}, 0.0)]
ROWS = [{"provider": "acme", "kind": "duplicate", "amount_minor": 1200}, {"provider": "acme", "kind": "duplicate",
                                                                        "amount_minor": 800}]


@pytest.mark.parametrize("expect, items, ok", [
    ({"nonempty": True}, SERIES, True),
    ({"nonempty": True}, [], False),
    ({"nonempty": False}, [], True),
    ({"labels": {"provider": "acme"}, "min": 1}, SERIES, True),
    ({"labels": {"provider": "globex"}, "min": 1}, SERIES, False),
    ({"labels": {"provider": "globex"}, "max": 0}, SERIES, True),
    ({"labels": {"provider": "initech"}, "min": 0}, SERIES, False),  # nothing to be >= 0
    ({"labels": {"provider": "initech"}, "max": 0}, SERIES, True),  # nothing exceeds 0
    ({"above": 3}, SERIES, False),
    ({"below": 3.5}, SERIES, True),
    ({"below": 1}, [({}, math.nan)], False),  # NaN never satisfies a bound
    ({"rows_min": 2}, ROWS, True),
    ({"rows_min": 3}, ROWS, False),
    ({"rows_max": 1, "labels": {"kind": "duplicate"}}, ROWS, False),
    ({"column": "amount_minor", "min": 1000}, ROWS, True),
    ({"column": "amount_minor", "max": 1000}, ROWS, False),
    ({"labels": {"amount_minor": 800}, "rows_min": 1}, ROWS, True),  # values compare as text, YAML ints too
])
def test_expectations(expect, items, ok):
    got, reason = check(Expect.model_validate(expect), items)
    assert got is ok, reason
    assert reason


def test_check_all_reports_the_first_failure():
    ok, reason = check_all([Expect(labels={"provider": "acme"}, min=1), Expect(labels={"provider": "globex"}, min=1)],
                           SERIES)
    assert not ok and "provider=globex" in reason


def test_expectation_needs_a_condition():
    with pytest.raises(ValueError, match="give at least one of"):
        Expect.model_validate({"labels": {"a": "b"}})


# ---------------------------------------------------------------- money


def _outcome(t, **kw):
    return Outcome(t=t, provider="acme", currency="EUR", amount_minor=1000, correlation_id=f"c{t}", **kw)


def test_affected_payments_counts_the_fault_window_and_every_break():
    outcomes = [_outcome(1, payment_id="p1", error="authorize: 503 ledger-unavailable"),  # before the fault
                _outcome(11, payment_id="p2", state="authorized"),  # fine
                _outcome(12, error="authorize: 502 provider-error"),  # failed, no id
                _outcome(13, payment_id="p3", state="declined", flagged=True),
                _outcome(14, payment_id="p4", state="held", flagged=True),
                _outcome(40, payment_id="p5", error="capture: 503")]  # after the window
    breaks = [{"payment_id": "p2", "kind": "duplicate"}, {"payment_id": None, "provider_ref": "r9", "kind":
                                                                                    "missing_in_ledger"}]
    assert money.affected_payments(outcomes, 10, 30, breaks) == {"c12", "p3", "p4", "p2", "r9"}
    assert money.affected_payments(outcomes, None, None, []) == set()


def test_a_refused_payment_is_affected_but_counted_apart_and_never_a_write_lost():
    outcomes = [_outcome(11, error="authorize: 503 overloaded", refused=True),  # shed: never acknowledged
                _outcome(12, error="authorize: 503 ledger-unavailable"),  # failed, not a refusal
                _outcome(13, payment_id="p1", state="authorized"),
                _outcome(40, error="authorize: 503 overloaded", refused=True)]  # after the window
    assert money.affected_payments(outcomes, 10, 30) == {"c11", "c12"}
    assert money.refused_payments(outcomes, 10, 30) == {"c11"}
    assert money.refused_payments(outcomes, None, None) == set()
    acked, captures = money.acknowledged(outcomes)
    assert money.writes_lost(acked, captures, {"p1"}, set()) == []


def test_the_load_waits_retry_after_and_marks_a_refusal():
    import asyncio

    import httpx

    from moneypath.drills.baseline_load import RETRY_AFTER_CAP_S, Load, Mix, retry_after_s
    from moneypath.formats.requests import Requests

    assert retry_after_s(httpx.Response(503, headers={"Retry-After": "1"})) == 1.0
    assert retry_after_s(httpx.Response(503, headers={"Retry-After": "3600"})) == RETRY_AFTER_CAP_S
    assert retry_after_s(httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})) == \
        RETRY_AFTER_CAP_S
    assert retry_after_s(httpx.Response(503)) is None

    def run(answers: list[httpx.Response]) -> tuple[Outcome, list[float]]:
        requests = Requests.model_validate({"authorize": {"path": "/pay", "id": "id", "outcome": "state"},
                                            "approved": ["ok"]})
        load = Load("http://svc", {}, requests, Mix({"acme": 1}, {"EUR": 1}, {"card": 1}, 100, 100, 0), 1,
                    lambda m, c: str(m), attempts=2)
        waits: list[float] = []
        real_sleep = asyncio.sleep

        async def sleep(s):
            waits.append(s)
            await real_sleep(0)

        async def go():
            answers_left = iter(answers)
            transport = httpx.MockTransport(lambda request: next(answers_left))
            async with httpx.AsyncClient(base_url="http://svc", transport=transport) as client:
                asyncio.sleep = sleep
                try:
                    await load._payment(client, 0)
                finally:
                    asyncio.sleep = real_sleep
        asyncio.run(go())
        return load.outcomes[0], waits, load.stats

    overloaded = {"type": "https://moneypath.dev/problems/overloaded"}
    refusal = httpx.Response(503, headers={"Retry-After": "1"}, json=overloaded)
    outcome, waits, stats = run([refusal, refusal])
    assert outcome.refused and outcome.failed and outcome.payment_id is None and waits == [1.0]
    assert outcome.error == "authorize: 503 overloaded" and stats.refused == 1 and stats.failed == 1
    outcome, waits, stats = run([refusal, httpx.Response(201, json={"id": "p1", "state": "ok"})])
    assert not outcome.refused and not outcome.failed and outcome.payment_id == "p1" and stats.refused == 0
    outcome, waits, stats = run([httpx.Response(503, json={"type": "x/ledger-unavailable"})] * 2)
    assert not outcome.refused and outcome.failed and waits == [0.2]  # no Retry-After: its own backoff, not a refusal


def test_duplicate_and_unreconciled_amounts():
    breaks = [{"kind": "duplicate", "currency": "EUR", "amount_minor": 1200},
              {"kind": "duplicate", "currency": "EUR", "amount_minor": 300},
              {"kind": "amount_differs", "currency": "EUR", "amount_minor": 1150, "captured_minor": 1000},
              {"kind": "amount_differs", "currency": "USD", "amount_minor": 900, "captured_minor": 1000},
              {"kind": "missing_at_provider", "currency": "GBP", "amount_minor": 700}]
    assert money.duplicate_amounts(breaks) == {"EUR": 1500}
    assert money.unreconciled_amounts(breaks) == {"EUR": 150, "USD": 100, "GBP": 700}


def test_writes_lost_is_acknowledged_minus_stored():
    outcomes = [_outcome(1, payment_id="p1", captured=True), _outcome(2, payment_id="p2"), _outcome(3)]
    acked, captures = money.acknowledged(outcomes)
    assert (acked, captures) == ({"p1", "p2"}, {"p1"})
    assert money.writes_lost(acked, captures, {"p1", "p2"}, {"p1"}) == []
    assert money.writes_lost(acked, captures, {"p1"}, set()) == ["payment p2 acknowledged, not in the ledger",
                                                                "capture of p1 acknowledged, no capture transaction"]


def test_blast_radius_cap():
    assert money.cap_exceeded(10, {"EUR": 100}, 20, 1000) is None
    assert "21 payments affected (cap 20)" in money.cap_exceeded(21, {}, 20, None)
    assert "EUR 50.00 charged twice (cap EUR 10.00)" in money.cap_exceeded(0, {"EUR": 5000}, None, 1000)



def test_the_blast_radius_cap_says_the_money_in_its_currency(foreign):
    assert money.cap_exceeded(0, {"JPY": 6235}, None, 5000, foreign.money) == \
        "blast-radius cap: JPY 6,235 charged twice (cap JPY 5,000)"
    assert money.cap_exceeded(0, {"KWD": 6235}, None, 5000, foreign.money) == \
        "blast-radius cap: KWD 6.235 charged twice (cap KWD 5.000)"
    assert money.amounts_text({"KWD": 6235, "JPY": 6235}, foreign.money) == "JPY 6,235, KWD 6.235"
    assert money.amounts_text({}, foreign.money) == "none"


def test_runbook_evidence_reads_money_in_its_currency(foreign):
    from moneypath.drills.evidence import _render_rows, _render_series

    assert money.reads_money(foreign, "sum by (currency) (increase(shop_duplicate_charged_minor_total[1m]))")
    assert not money.reads_money(foreign, "sum(increase(shop_duplicate_charges_total[1m]))")
    series = [({"currency": "JPY"}, 6235.0), ({"currency": "KWD"}, 6235.0)]
    assert _render_series(series, foreign.money) == '{currency="JPY"} 6235 (JPY 6,235); {currency="KWD"} 6235 (KWD 6.235)'
    assert _render_series(series) == '{currency="JPY"} 6235; {currency="KWD"} 6235'  # not a money query
    rows = [{"payment_id": "p1", "amount_minor": 6235, "currency": "KWD"}]
    assert _render_rows(rows, foreign.money) == "1 row(s): payment_id=p1, amount_minor=6235 (KWD 6.235), currency=KWD"




def test_the_money_impact_note_and_the_ledger_objective_say_money_in_its_currency(foreign):
    from moneypath.drills import impact

    duplicates, imbalance = foreign.metric("duplicate_charged_minor_total"), foreign.metric("ledger_imbalance_minor")

    def answer(expr):
        if duplicates in expr:
            return [({"currency": "JPY"}, 6235.0), ({"currency": "KWD"}, 6235.0)]
        if imbalance in expr:
            return [({"currency": "KWD"}, 6235.0)]
        return []

    ctx = MoneyCtx(foreign, answer)
    result, lost = impact.money_impact(ctx, [], 1010.0, 1050.0, None)
    assert result.duplicate_amount_minor == {"JPY": 6235, "KWD": 6235}  # the journal keeps integer minor units
    assert ctx.timeline == ["money: 0 payment(s) affected, duplicates JPY 6,235, KWD 6.235, unreconciled not "
                            "checked (no --db-url), writes lost not checked (no --db-url, and the drill's requests "
                            "have no read call) of 0 acknowledged"]
    impact.ledger_objective(ctx, result, lost)
    (objective,) = ctx.objectives
    assert not objective.ok and objective.reason == f"{imbalance} is not 0: KWD 6.235"
    ctx.http.close()


# ---------------------------------------------------------------- the alert matrix and its deadlines


@pytest.fixture
def run(catalog):
    drill = load_drill(ROOT / "runbooks" / "drills" / "duplicate-charge.yaml", catalog, ROOT)
    target = Target(service="http://127.0.0.1:9", prometheus="http://127.0.0.1:9", pager="http://127.0.0.1:9",
                    time_factor=60)
    r = DrillRun(drill, catalog, target, say=lambda _: None, clock=lambda: 1000.0)
    r.faults.record.injected_at = 1000.0
    yield r
    r.close()


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


def test_journal_is_written_whole_andfinite(tmp_path):
    journal = finite({"drill": "x", "started_at": 1795355415.0, "timings": {"detect_s": math.nan}, "v": [math.inf]})
    path = write_journal(journal, tmp_path)
    again = write_journal(journal, tmp_path)
    assert path.parent != again.parent  # two runs in one second do not overwrite each other
    assert path.read_text().count("null") == 2
    assert [p.name for p in path.parent.iterdir()] == ["journal.json"]


def test_interactive_tabletop_answers_go_into_roles_and_timeline(run):
    answers = iter(["Ana", "acme duplicates, 3 payments", "y"] * 4)
    run.ask = lambda _prompt: next(answers)
    roles = [{"role": r, "checkpoint": c.checkpoint, "due_s": c.due, "answered_by": None, "answer": None,
              "answered_at": None, "ok": None} for r, c in run.drill.tabletop.roles.items()]
    got = run._tabletop(roles, 1000.0)
    assert [r["role"] for r in got] == ["engineering", "operations", "compliance", "customer_support"]
    assert all(r["answered_by"] == "Ana" and r["ok"] is True for r in got)
    answers_in_timeline = [e for e in run.timeline if e.kind == "answer"]
    assert len(answers_in_timeline) == 4 and "Ana answered" in answers_in_timeline[0].text


# ---------------------------------------------------------------- the CLI's target


def _run_args(tmp_path, *extra):
    from moneypath.cli import build_parser

    return build_parser().parse_args(["drill", "run", str(ROOT / "runbooks" / "drills" / "duplicate-charge.yaml"),
                                      "--catalog", str(ROOT / "moneypath.yaml"), "--reports", str(tmp_path),
                                      *extra])


def test_a_remote_target_without_a_page_source_is_refused(tmp_path, monkeypatch, capsys):
    from moneypath.cli import drill as drill_cli
    from moneypath.drills.placement import target_from

    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "s" * 32)
    ran = []
    monkeypatch.setattr("moneypath.drills.runner.run_drills", lambda *a, **kw: ran.append(a) or [])
    args = _run_args(tmp_path, "--target-service", "http://127.0.0.1:9", "--target-prometheus", "http://127.0.0.1:9",
                     "--target-providersim", "http://127.0.0.1:9")
    assert drill_cli._run(args) == drill_cli.EXIT_INVALID
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--target-pager or --target-alertmanager" in err
    assert ran == []  # nothing was drilled
    for source in ("--target-pager", "--target-alertmanager"):
        target = target_from(_run_args(tmp_path, "--target-service", "http://s", "--target-prometheus", "http://p",
                                       source, "http://pages"))
        assert (target.pager or target.alertmanager) == "http://pages"


def test_a_fault_through_the_proxy_needs_a_target_and_each_missing_need_is_one_line(tmp_path, monkeypatch, capsys):
    import shutil

    import yaml

    from moneypath.cli import build_parser
    from moneypath.cli import drill as drill_cli

    ran = []
    monkeypatch.setattr("moneypath.drills.runner.run_drills", lambda *a, **kw: ran.append(a) or [])
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")  # the pages and the request template it names
    shutil.copy(ROOT / "moneypath.yaml", tmp_path / "moneypath.yaml")
    doc = yaml.safe_load((ROOT / "runbooks/drills/provider-partial-outage.yaml").read_text())
    doc["fault"]["where"] = "faultproxy"
    path = tmp_path / "runbooks" / "drills" / "proxy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))

    def run(*extra):
        args = build_parser().parse_args(["drill", "run", str(path), "--catalog", str(tmp_path / "moneypath.yaml"),
                                          "--reports", str(tmp_path / "reports"), *extra])
        return drill_cli._run(args), capsys.readouterr().err

    code, err = run()  # the local stack runs no fault proxy
    assert code == drill_cli.EXIT_INVALID and err.count("\n") == 1
    assert "its fault goes through the faultproxy, which the local stack" in err
    monkeypatch.delenv("MONEYPATH_TOKEN_SECRET", raising=False)
    monkeypatch.delenv("MONEYPATH_DRILL_TOKEN", raising=False)
    remote = ("--target-service", "http://127.0.0.1:9", "--target-prometheus", "http://127.0.0.1:9",
              "--target-pager", "http://127.0.0.1:9")
    code, err = run(*remote)
    assert code == drill_cli.EXIT_INVALID and "load.requests.auth is minted: set MONEYPATH_TOKEN_SECRET" in err
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "s" * 32)
    code, err = run(*remote)
    assert code == drill_cli.EXIT_INVALID and err.count("\n") == 1
    assert "fault error_rate goes through the faultproxy: give --target-faultproxy" in err
    assert ran == []


# ---------------------------------------------------------------- the runner's fault lifecycle (fakes, no stack)








@pytest.fixture
def live(catalog):
    """A DrillRun of duplicate-charge.yaml whose fault API calls are recorded (answered by `live.status`)."""
    drill = load_drill(ROOT / "runbooks" / "drills" / "duplicate-charge.yaml", catalog, ROOT)
    target = Target(service="http://svc", prometheus="http://127.0.0.1:9", providersim="http://sim",
                    pager="http://127.0.0.1:9", admin_token="admin-token", time_factor=60)
    clock = Clock()
    r = DrillRun(drill, catalog, target, say=lambda _: None, clock=clock)
    r.prom.close(), r.pages_source.close(), r.http.close()
    r.prom, r.pages_source = FakeProm(), FakePages()
    r.calls, r.status, r.now = [], 200, clock

    def handler(request):
        r.calls.append((request.method, str(request.url), request.headers.get("authorization"),
                        request.content.decode() or None))
        return httpx.Response(r.status, json={"detail": "no"})

    r.http = httpx.Client(transport=httpx.MockTransport(handler))
    yield r
    r.close()


def _deletes(run):
    return [c for c in run.calls if c[0] == "DELETE"]


def test_clear_fault_false_leaves_the_fault_on_until_its_duration_ends(live):
    live.drill.mitigation.clear_fault = False
    live.faults.inject()
    assert live.faults.active and live.faults.end == 1060.0  # 60 s at the local time factor
    live.now.t = 1020.0
    live.mitigate()
    assert live.faults.active and _deletes(live) == []
    mitigated = next(o for o in live.objectives if o.name == "mitigated")
    assert mitigated.ok and "fault left on (mitigation.clear_fault: false)" in mitigated.reason
    live.now.t = 1060.0
    live.tick()  # the watcher ends it with its duration
    assert not live.faults.active and live.faults.record.cleared_at == 1060.0
    assert _deletes(live) == [("DELETE", "http://sim/admin/faults/duplicate_capture?provider=acme",
                               "Bearer admin-token", None)]


def test_clear_fault_true_clears_at_mitigation(live):
    live.faults.inject()
    live.now.t = 1020.0
    live.mitigate()
    assert not live.faults.active and live.faults.record.cleared_at == 1020.0 and len(_deletes(live)) == 1
    assert next(o for o in live.objectives if o.name == "mitigated") == Objective(name="mitigated", ok=True,
                                                                                reason="fault cleared")


def test_a_fault_left_on_is_cleared_when_the_drill_ends(live, monkeypatch):
    live.drill.mitigation.clear_fault = False

    def phases():
        live.faults.inject()
        live.mitigate()
        raise RuntimeError("boom")  # any exit path

    monkeypatch.setattr(live, "_run_phases", phases)
    journal = live.run()
    assert not live.faults.active and len(_deletes(live)) == 1
    assert "cleanup" in next(e["text"] for e in journal["timeline"] if e["text"].startswith("CLEAR"))
    assert journal["verdict"] == "fail"


def test_the_watcher_ends_the_fault_at_its_declared_duration(live):
    live.faults.inject()
    live.now.t = 1059.0
    live.tick()
    assert live.faults.active and _deletes(live) == []
    live.now.t = 1060.5
    live.tick()
    assert not live.faults.active and len(_deletes(live)) == 1
    assert any(e.text == "fault duration (60 s) reached" for e in live.timeline)


def test_remediation_actions_are_called_and_judged(live):
    from moneypath.formats.drill import Action

    live.drill.mitigation.actions = [Action.model_validate(
        {"name": "route card payments to globex", "where": "service", "method": "POST", "path": "/admin/routing",
         "json": {"provider": "globex"}})]
    live.faults.inject()
    live.mitigate()
    post = next(c for c in live.calls if c[0] == "POST")
    assert post == ("POST", "http://svc/admin/routing", "Bearer admin-token", '{"provider":"globex"}')
    mitigated = next(o for o in live.objectives if o.name == "mitigated")
    assert mitigated.ok and "route card payments to globex: POST http://svc/admin/routing → 200" in mitigated.reason
    live.objectives.clear()
    live.status = 500
    live.mitigate()  # the fault is already cleared; the action now fails
    mitigated = next(o for o in live.objectives if o.name == "mitigated")
    assert not mitigated.ok and "→ 500" in mitigated.reason


def test_a_halt_condition_clears_the_fault_and_fails_the_drill(live):
    live.faults.inject()
    live.now.t = 1005.0
    live.tick()
    assert live.faults.active and live.faults.record.halted is None  # the ledger balances: no halt
    live.prom.answer = lambda expr: [({}, 250.0)] if "ledger_imbalance" in expr else []
    live.tick()
    assert not live.faults.active and len(_deletes(live)) == 1
    assert live.faults.record.halted.startswith("halt condition 'the ledger itself is unbalanced' holds")
    journal = live.finish()
    halted = next(o for o in journal["objectives"] if o["name"] == "halted")
    assert not halted["ok"] and "the ledger itself is unbalanced" in halted["reason"]
    assert journal["verdict"] == "fail"


def test_the_blast_radius_cap_clears_the_fault_and_fails_the_drill(live, catalog):
    duplicates = catalog.metric("duplicate_charged_minor_total")
    live.faults.inject()
    live.now.t = 1010.0
    live.prom.answer = lambda expr: [({"currency": "EUR"}, 1_999_999.0)] if duplicates in expr else []
    live.tick()
    assert live.faults.active  # under the cap (2,000,000 minor units in any currency)
    live.prom.answer = lambda expr: [({"currency": "EUR"}, 2_000_001.0)] if duplicates in expr else []
    live.tick()
    assert not live.faults.active and "EUR 20,000.01 charged twice (cap EUR 20,000.00)" in live.faults.record.halted
    assert any(e.kind == "halt" for e in live.timeline)
    journal = live.finish()
    assert [o["name"] for o in journal["objectives"]][:1] == ["halted"] and journal["verdict"] == "fail"


def test_a_drill_that_was_not_halted_has_no_halted_objective(live):
    live.faults.inject()
    live.mitigate()
    assert "halted" not in [o["name"] for o in live.finish()["objectives"]]


def test_without_a_ledger_database_the_unreconciled_difference_is_not_measured(live, tmp_path):
    from moneypath.drills.report.rendering import render

    live.faults.inject()
    live.mitigate()
    journal = finite(live.finish())
    assert journal["money"]["unreconciled_minor"] is None
    assert any("unreconciled not checked (no --db-url)" in e["text"] for e in journal["timeline"])
    md = render(journal, tmp_path / "report").read_text()
    assert "| unreconciled difference | _not checked: no --db-url_ |" in md


# ---------------------------------------------------------------- Ctrl-C and several drills


def test_ctrl_c_keeps_the_journal_and_report_of_what_happened(catalog, tmp_path, monkeypatch):
    from moneypath.drills import runner

    deletes = []

    def phases(self):
        self.http.close()
        self.http = httpx.Client(transport=httpx.MockTransport(
            lambda request: deletes.append(request.method) or httpx.Response(200, json={})))
        self.faults.inject()
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.DrillRun, "_run_phases", phases)
    drill = load_drill(ROOT / "runbooks" / "drills" / "duplicate-charge.yaml", catalog, ROOT)
    target = Target(service="http://127.0.0.1:9", prometheus="http://127.0.0.1:9", providersim="http://sim",
                    pager="http://127.0.0.1:9", admin_token="t", time_factor=60)
    result = runner.run_drill(drill, catalog, target, tmp_path, say=lambda _: None)
    assert result.interrupted and result.verdict == "fail"
    assert deletes == ["PUT", "DELETE"]  # the fault was cleared
    journal_path = next(tmp_path.glob("duplicate-charge-*/journal.json"))
    journal = json.loads(journal_path.read_text())
    assert journal["interrupted"] is True and journal["fault"]["cleared_at"] is not None
    assert journal["root"] == str(ROOT)  # the runbook link in the report is resolved against it
    assert journal["objectives"][0] == {"name": "interrupted", "ok": False,
                                        "reason": "the drill was interrupted (Ctrl-C) before it finished"}
    md = (journal_path.parent / "report.md").read_text()
    assert "interrupted (Ctrl-C stopped the drill) | ❌ **fail**" in md
    assert (journal_path.parent / "index.html").exists()
    pngs = list(journal_path.parent.glob("plot-*.png"))  # the default key signals and the drill's plots, even empty
    assert len(pngs) == 3 + len(drill.plots) and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)


def _result(name, verdict="pass", interrupted=False):
    from moneypath.drills.runner import Result

    return Result(name, verdict, {"detect_s": 3.2, "page_s": 4.0, "diagnose_s": None, "recover_s": 20.6},
                  f"reports/{name}/report.md", interrupted=interrupted)


def test_a_stack_that_does_not_start_fails_its_drill_and_the_next_runs(catalog, tmp_path, monkeypatch):
    from moneypath.drills import runner
    from moneypath.stack import local as stack

    drills = [load_drill(ROOT / "runbooks" / "drills" / f"{n}.yaml", catalog, ROOT)
              for n in ("duplicate-charge", "fraud-spike", "settlement-mismatch")]
    started, stopped = [], []

    def local_stack(catalog, drill, state_dir, say, topology=None):
        started.append(state_dir.name)
        if state_dir.name == "duplicate-charge":
            raise stack.StackError("prometheus exited at start;\nsee prometheus.log")
        return state_dir.name

    monkeypatch.setattr(runner, "local_stack", local_stack)
    monkeypatch.setattr(stack, "down", lambda state_dir, **kw: stopped.append(state_dir.name))
    monkeypatch.setattr(runner, "run_drill", lambda drill, *a, **kw: _result(drill.name))
    said = []
    results = runner.run_drills(drills, catalog, tmp_path, state_dir=tmp_path / "state", say=said.append)
    assert [(r.drill, r.verdict) for r in results] == [("duplicate-charge", "fail"), ("fraud-spike", "pass"),
                                                        ("settlement-mismatch", "pass")]
    assert results[0].report == "stack did not start: StackError: prometheus exited at start; see prometheus.log"
    assert stopped == started == ["duplicate-charge", "fraud-spike", "settlement-mismatch"]
    # Ctrl-C in the second drill: its result is kept, the third is not run
    monkeypatch.setattr(runner, "run_drill", lambda drill, *a, **kw: _result(
        drill.name, "fail", interrupted=drill.name == "fraud-spike"))
    results = runner.run_drills(drills, catalog, tmp_path, state_dir=tmp_path / "state", say=said.append)
    assert [r.drill for r in results] == ["duplicate-charge", "fraud-spike"] and results[1].interrupted
    assert said[-1] == "interrupted: 1 drill(s) not run"


def test_an_interrupted_run_prints_the_summary_and_exits_130(tmp_path, monkeypatch, capsys):
    from moneypath.cli import drill as drill_cli

    monkeypatch.setattr("moneypath.drills.runner.run_drills", lambda *a, **kw: [_result("duplicate-charge", "fail",
                                                                                          interrupted=True)])
    monkeypatch.setattr("moneypath.drills.runner.print_summary", lambda results: print("SUMMARY", len(results)))
    assert drill_cli._run(_run_args(tmp_path)) == 130
    assert "SUMMARY 1" in capsys.readouterr().out


def test_summary_rows_and_plain_table():
    from moneypath.drills.runner import SUMMARY_HEADERS, print_summary, summary_rows

    results = [_result("duplicate-charge"), _result("fraud-spike", "fail"),
               _result("settlement-mismatch", "fail", interrupted=True)]
    rows = summary_rows(results)
    assert rows[0] == ["duplicate-charge", "PASS", "3 s", "4 s", "—", "21 s", "reports/duplicate-charge/report.md"]
    assert [r[1] for r in rows] == ["PASS", "FAIL", "INTERRUPTED"]
    lines = []
    print_summary(results, out=lines.append)  # not the terminal: plain text, one line per drill under a header
    assert lines[0].split() == SUMMARY_HEADERS and len(lines) == 4
    assert lines[2].split() == ["fraud-spike", "FAIL", "3", "s", "4", "s", "—", "21", "s", "reports/fraud-spike/report.md"]
    starts = {line.find(" PASS") if "PASS" in line else line.find(" FAIL") if "FAIL" in line else
              line.find(" INTERRUPTED") if "INTERRUPTED" in line else line.find(" verdict") for line in lines}
    assert len(starts) == 1  # the verdict column is aligned


def test_summary_on_the_terminal_is_a_rich_table(capsys):
    from moneypath.drills.runner import print_summary

    print_summary([_result("duplicate-charge"), _result("fraud-spike", "fail")])
    out = capsys.readouterr().out
    assert "drills (times from fault injection)" in out
    assert "duplicate-charge" in out and "PASS" in out and "FAIL" in out
    assert "reports/fraud-spike/report.md" in out  # the path is not cut


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
    monkeypatch.setattr(shop_run, "load", SimpleNamespace(set_rate=lambda rate: None), raising=False)
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
