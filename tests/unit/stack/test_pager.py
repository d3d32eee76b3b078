"""The pager records Alertmanager webhooks, survives restarts, and rejects junk clearly."""

from __future__ import annotations

import httpx
import pytest

from moneypath.stack.pager import create_app

WEBHOOK = {
    "version": "4", "status": "firing", "receiver": "payments-oncall", "groupKey": "{}:{alertname=\"X\"}",
    "alerts": [{"status": "firing", "labels": {"alertname": "MoneyPathLedgerImbalance", "severity": "page",
                                              "currency": "EUR"},
                "annotations": {"summary": "s"}, "startsAt": "2026-11-22T05:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc"}],
}


async def call(app, method, path, **kwargs):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pager") as client:
        return await client.request(method, path, **kwargs)


@pytest.fixture
def run():
    import asyncio

    return asyncio.run


def test_records_each_alert_with_receiver_and_filters(tmp_path, run):
    app = create_app(tmp_path / "pages.jsonl")
    assert run(call(app, "POST", "/hooks/payments-oncall", json=WEBHOOK)).json() == {"recorded": 1}
    resolved = {**WEBHOOK, "alerts": [{**WEBHOOK["alerts"][0], "status": "resolved"}]}
    run(call(app, "POST", "/hooks/compliance", json=resolved))
    everything = run(call(app, "GET", "/pages")).json()
    assert [(p["receiver"], p["status"]) for p in everything] == [("payments-oncall", "firing"),
                                                                  ("compliance", "resolved")]
    assert everything[0]["labels"]["currency"] == "EUR" and everything[0]["received_at"] > 0
    only = run(call(app, "GET", "/pages", params={"receiver": "compliance"})).json()
    assert len(only) == 1 and only[0]["status"] == "resolved"


def test_journal_survives_a_restart(tmp_path, run):
    journal = tmp_path / "pages.jsonl"
    run(call(create_app(journal), "POST", "/hooks/payments-oncall", json=WEBHOOK))
    restarted = create_app(journal)
    assert len(run(call(restarted, "GET", "/pages")).json()) == 1


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"alerts": "nope"}', b'{"alerts": [{"labels": 3}]}'])
def test_bad_webhooks_get_problem_json_and_record_nothing(tmp_path, run, body):
    app = create_app(tmp_path / "pages.jsonl")
    response = run(call(app, "POST", "/hooks/payments-oncall", content=body))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/bad-webhook") and problem["status"] == 400 and problem["detail"]
    assert run(call(app, "GET", "/pages")).json() == []


def test_unknown_paths_and_methods_are_problem_json(run):
    app = create_app(None)
    assert run(call(app, "GET", "/nope")).json()["status"] == 404
    wrong = run(call(app, "GET", "/hooks/payments-oncall"))
    assert wrong.status_code == 405 and wrong.headers["content-type"] == "application/problem+json"


def _alert(status, fingerprint, **labels):
    return {**WEBHOOK, "alerts": [{**WEBHOOK["alerts"][0], "status": status, "fingerprint": fingerprint,
                                   "labels": {**WEBHOOK["alerts"][0]["labels"], **labels}}]}


def test_status_is_what_fires_now_and_event_the_raw_records(tmp_path, run):
    """An alert that fired and resolved is not under ?status=firing; one that fired again is, once; ?event=
    keeps every record of that kind as it arrived."""
    app = create_app(tmp_path / "pages.jsonl")
    for status, fingerprint, currency in [("firing", "eur", "EUR"), ("firing", "usd", "USD"),
                                          ("resolved", "eur", "EUR"), ("firing", "jpy", "JPY"),
                                          ("resolved", "jpy", "JPY"), ("firing", "jpy", "JPY")]:
        run(call(app, "POST", "/hooks/payments-oncall", json=_alert(status, fingerprint, currency=currency)))

    def get(**params):
        return [(p["labels"]["currency"], p["status"]) for p in run(call(app, "GET", "/pages", params=params)).json()]

    assert get(status="firing") == [("USD", "firing"), ("JPY", "firing")]
    assert get(status="resolved") == [("EUR", "resolved")]
    assert get(event="firing") == [("EUR", "firing"), ("USD", "firing"), ("JPY", "firing"), ("JPY", "firing")]
    assert get(event="resolved") == [("EUR", "resolved"), ("JPY", "resolved")]
    assert len(get()) == 6
    bad = run(call(app, "GET", "/pages", params={"status": "open"}))
    assert bad.status_code == 400 and bad.json()["detail"] == "?status=open: expected one of firing, resolved"


def test_the_same_alert_at_two_receivers_is_two_alerts(tmp_path, run):
    app = create_app(None)
    run(call(app, "POST", "/hooks/payments-oncall", json=_alert("firing", "eur")))
    run(call(app, "POST", "/hooks/compliance", json=_alert("firing", "eur")))
    run(call(app, "POST", "/hooks/compliance", json=_alert("resolved", "eur")))
    now = run(call(app, "GET", "/pages", params={"status": "firing"})).json()
    assert [p["receiver"] for p in now] == ["payments-oncall"]


def test_a_new_stack_sets_the_old_journal_aside_and_starts_with_no_pages(tmp_path, run):
    """What `up` does before it starts the pager: the earlier stack's pages move beside the journal, readable,
    and the pager on the journal lists none; its heartbeat file goes with them."""
    from moneypath.stack import local
    from moneypath.stack.pager import set_aside

    journal = tmp_path / local.PAGES_JOURNAL
    run(call(create_app(journal), "POST", "/hooks/payments-oncall", json=WEBHOOK))
    (tmp_path / "pages.jsonl.watchdog").write_text('{"last_seen": 1.0, "replicas": {}}')
    kept = set_aside(journal, now=1_790_000_000)
    assert kept == tmp_path / "pages-20260921T141320Z.jsonl"
    assert not journal.exists() and (tmp_path / "pages-20260921T141320Z.jsonl.watchdog").is_file()
    assert run(call(create_app(journal), "GET", "/pages")).json() == []
    assert [p["alertname"] for p in run(call(create_app(kept), "GET", "/pages")).json()] == ["MoneyPathLedgerImbalance"]
    run(call(create_app(journal), "POST", "/hooks/payments-oncall", json=WEBHOOK))
    assert set_aside(journal, now=1_790_000_000) == tmp_path / "pages-20260921T141320Z-2.jsonl"  # never overwritten
    assert set_aside(journal) is None  # nothing to keep
