"""The judge over HTTP (service.py), in process against the Prometheus stand-in: GET /v1/verdict answers 200 with
the verdict whatever it is (Argo Rollouts' web provider branches on result.verdict); Flagger's check hook is 200
unless the canary failed (409); its confirm-promotion hook is 200 only on a pass, 423 while inconclusive, 409 on a
fail; bad input is 400 problem+json."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from moneypath.canary.service import create_app
from tests.support.canary_prom import FakePrometheus, arm, install

PARAMS = {"canary": 'track="canary"', "baseline": 'track="baseline"', "since": "2026-11-28T08:00:00Z"}
PAYLOAD = {"name": "checkout", "namespace": "shop", "phase": "Progressing", "metadata": PARAMS}


@pytest.fixture
def client(foreign, monkeypatch, tmp_path):
    def serve(canary, baseline=None):
        install(monkeypatch, FakePrometheus(canary + (baseline if baseline is not None else arm(foreign, "baseline"))))
        return TestClient(create_app(foreign, "http://prom.test", tmp_path / "state.json"))
    return serve


def test_the_verdict_is_200_whatever_it_is(client, foreign):
    failed = client(arm(foreign, "canary", duplicates=2)).get("/v1/verdict", params=PARAMS)
    assert failed.status_code == 200 and failed.json()["verdict"] == "fail"
    assert {"verdict", "reason", "metrics", "invariants"} <= set(failed.json()) and "history" not in failed.json()
    waiting = client(arm(foreign, "canary", n=50)).get("/v1/verdict", params=PARAMS)
    assert waiting.status_code == 200 and waiting.json()["verdict"] == "inconclusive"
    nothing = client([]).get("/v1/verdict", params=PARAMS)
    assert nothing.status_code == 200 and nothing.json()["verdict"] == "inconclusive"
    assert "matches no series" in nothing.json()["reason"]


def test_flagger_check_refuses_only_a_failed_canary(client, foreign):
    assert client(arm(foreign, "canary", n=50)).post("/v1/flagger/check", json=PAYLOAD).status_code == 200
    failed = client(arm(foreign, "canary", duplicates=1)).post("/v1/flagger/check", json=PAYLOAD)
    assert failed.status_code == 409 and failed.headers["content-type"] == "application/problem+json"
    body = failed.json()
    assert body["type"].endswith("/canary-failed") and body["verdict"] == "fail" and "duplicate" in body["detail"]


def test_confirm_promotion_holds_while_inconclusive_and_refuses_a_fail(client, foreign):
    held = client(arm(foreign, "canary", n=50)).post("/v1/flagger/confirm-promotion", json=PAYLOAD)
    assert held.status_code == 423 and held.json()["type"].endswith("/canary-inconclusive")
    assert held.json()["needs"]["canary_events"] > 0
    failed = client(arm(foreign, "canary", duplicates=1)).post("/v1/flagger/confirm-promotion", json=PAYLOAD)
    assert failed.status_code == 409


def test_confirm_promotion_is_200_on_a_pass(client, foreign, monkeypatch):
    from moneypath.canary import judge
    from moneypath.canary.results import Decision

    monkeypatch.setattr(judge, "decide", lambda *args: Decision("pass", "every metric passed"))
    ok = client(arm(foreign, "canary")).post("/v1/flagger/confirm-promotion", json=PAYLOAD)
    assert ok.status_code == 200 and ok.json()["verdict"] == "pass"


@pytest.mark.parametrize("method, path, kwargs, detail", [
    ("get", "/v1/verdict", {"params": {"baseline": 'track="b"'}}, "give the canary selector"),
    ("get", "/v1/verdict", {"params": {**PARAMS, "metric": "nonsense"}}, "unknown canary metric 'nonsense'"),
    ("get", "/v1/verdict", {"params": {**PARAMS, "since": "soon"}}, "is not a time: give RFC 3339"),
    ("post", "/v1/flagger/check", {"content": b"not json"}, "the body is not JSON"),
    ("post", "/v1/flagger/check", {"json": {"name": "x"}}, "no metadata in the webhook payload"),
    ("post", "/v1/flagger/confirm-promotion", {"json": {"metadata": {"canary": "x=1", "baseline": "x=\"2\""}}},
     "not PromQL label matchers"),
])
def test_bad_input_is_400_problem_json(client, foreign, method, path, kwargs, detail):
    r = getattr(client(arm(foreign, "canary")), method)(path, **kwargs)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert detail in r.json()["detail"]


def test_unknown_routes_and_methods_are_problem_json(client, foreign):
    http = client(arm(foreign, "canary"))
    assert http.get("/v1/nothing").status_code == 404
    wrong = http.post("/v1/verdict")
    assert wrong.status_code == 405 and wrong.headers["content-type"] == "application/problem+json"
