"""The service's fault API (/admin/faults), driven through the HTTP API with the provider simulator in-process; the
background jobs are run by hand (run_once)."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.reference.refservice.app import ServiceConfig, create_app
from tests.support.refservice import ACME_HOOK, ADMIN, SECRET, call, client_for, post_raw


def test_fault_api_needs_the_scope_and_validates(world):
    app, _, _ = world
    assert call(app, "GET", "/admin/faults").status_code == 403  # payments:write is not admin:faults
    listed = call(app, "GET", "/admin/faults", headers=ADMIN).json()
    assert listed["faults"] == [] and "ledger_write_failure" in listed["available"]
    bad = call(app, "PUT", "/admin/faults/ledger_write_failure", json={"rate": 2}, headers=ADMIN)
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert "rate: must be a number from 0 to 1" in bad.json()["detail"]
    assert call(app, "PUT", "/admin/faults/nope", json={}, headers=ADMIN).status_code == 404
    queue = call(app, "PUT", "/admin/faults/consumer_failure", json={"rate": 1, "queue": "nope"}, headers=ADMIN)
    assert queue.status_code == 422 and "queue: must be one of notifications, compliance_log" in queue.json()["detail"]
    ok = call(app, "PUT", "/admin/faults/consumer_failure", json={"rate": 1, "queue": "notifications"}, headers=ADMIN)
    assert ok.json() | {"ends_in_s": 0} == {"name": "consumer_failure", "queue": "notifications", "rate": 1, "ends_in_s": 0}
    def timeless(faults):  # ends_in_s counts down: a slow machine crosses a second between two calls
        return [fault | {"ends_in_s": 0} for fault in faults]

    assert timeless(call(app, "GET", "/admin/faults", headers=ADMIN).json()["faults"]) == timeless([ok.json()])
    cleared = call(app, "DELETE", "/admin/faults/consumer_failure", headers=ADMIN).json()["cleared"]
    assert timeless(cleared) == timeless([ok.json()])
    assert call(app, "GET", "/admin/faults", headers=ADMIN).json()["faults"] == []


def test_deeply_nested_json_is_a_4xx_problem_not_a_5xx(world):
    from moneypath.reference.signing import HEADER, sign

    app, _, _ = world
    deep = b"[" * 30_000 + b"]" * 30_000  # under the 64 KiB body limit
    put = call_raw(app, "PUT", "/admin/faults/risk_down", deep, ADMIN)
    assert put.status_code == 422 and put.headers["content-type"] == "application/problem+json"
    hooked = post_raw(app, "/v1/webhooks/acme", deep, {HEADER: sign(ACME_HOOK, deep)})
    assert hooked.status_code == 400 and hooked.json()["type"].endswith("/webhook-malformed")


def call_raw(app, method, path, content: bytes, headers: dict):
    async def go():
        async with await client_for(app) as c:
            return await c.request(method, path, content=content, headers=headers)
    return asyncio.run(go())


def test_fault_api_is_refused_unless_enabled(catalog, tmp_path):
    app = create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'l.db'}", token_secret=SECRET, background_jobs=False),
                     mp=MoneyPath(catalog, PrometheusBackend(CollectorRegistry())))
    refused = call(app, "PUT", "/admin/faults/risk_down", json={}, headers=ADMIN)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/faults-disabled")
