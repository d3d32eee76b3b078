"""A load test (and a capacity plan) proves before any load that each address its users load answers as a process
Prometheus scrapes: not scraped is refused with the check's line; a target down is said and the run goes on; a
stack the run started itself is not asked."""

from __future__ import annotations

import pytest

from moneypath.loadtest.command import scraped_targets
from moneypath.loadtest.command.inputs import UsageError
from moneypath.loadtest.command.run_types import LoadTarget
from tests.support.identity_prom import FakeProm

A, B = "a1b2c3-4242", "9f8e7d-4243"


@pytest.fixture
def answers(monkeypatch):
    """address → the identities it answers as; and the Prometheus the run reads."""
    seen: dict[str, set[str]] = {}
    prom = FakeProm(interval="0s")
    monkeypatch.setattr(scraped_targets, "seen_at", lambda url: seen[url])
    monkeypatch.setattr(scraped_targets, "Prometheus", lambda url: prom)
    return seen, prom


def target(**kw) -> LoadTarget:
    return LoadTarget("http://127.0.0.1:8001", "http://127.0.0.1:9090", None, None, None, **kw)


def test_an_address_not_scraped_is_refused_with_one_line(answers, catalog):
    seen, prom = answers
    seen["http://127.0.0.1:8001"] = {A}
    prom.info, prom.up = {B: ("127.0.0.1:8002", "shop")}, {("127.0.0.1:8002", "shop"): 1}
    with pytest.raises(UsageError) as refused:
        scraped_targets.refuse_unscraped(catalog, target(), say=lambda line: None)
    assert str(refused.value) == ("127.0.0.1:8001 answered as a1b2c3 (pid 4242); Prometheus scrapes only 9f8e7d "
                                  "(pid 4243) at 127.0.0.1:8002: the load test would read another instance's metrics")


def test_every_instance_the_users_load_is_proved(answers, catalog):
    seen, prom = answers
    seen.update({"http://127.0.0.1:8001": {A}, "http://127.0.0.1:8002": {B}})
    prom.info = {A: ("127.0.0.1:8001", "shop"), B: ("127.0.0.1:8002", "shop")}
    prom.up = {("127.0.0.1:8001", "shop"): 1, ("127.0.0.1:8002", "shop"): 1}
    said = []
    scraped_targets.refuse_unscraped(catalog, target(instances=("http://127.0.0.1:8002",)), said.append)
    assert said == ["instruments: 127.0.0.1:8001 answered as a1b2c3 (pid 4242), each scraped by Prometheus (a1b2c3 "
                    "(pid 4242) at 127.0.0.1:8001)", "instruments: 127.0.0.1:8002 answered as 9f8e7d (pid 4243), each "
                    "scraped by Prometheus (9f8e7d (pid 4243) at 127.0.0.1:8002)"]
    prom.info.pop(B)
    with pytest.raises(UsageError, match="^127.0.0.1:8002 answered as 9f8e7d"):
        scraped_targets.refuse_unscraped(catalog, target(instances=("http://127.0.0.1:8002",)), said.append)


def test_a_target_down_is_said_and_the_run_goes_on(answers, catalog):
    seen, prom = answers
    seen["http://127.0.0.1:8001"] = {A}
    prom.info, prom.up = {A: ("127.0.0.1:8001", "shop")}, {("127.0.0.1:8001", "shop"): 0}
    said = []
    scraped_targets.refuse_unscraped(catalog, target(), said.append)
    assert len(said) == 1 and "down now (up == 0)" in said[0]


def test_a_stack_started_here_or_no_prometheus_is_not_asked(answers, catalog):
    assert scraped_targets.proofs(catalog, target(owned=True), "the load test") == []
    assert scraped_targets.proofs(catalog, LoadTarget("http://127.0.0.1:8001", None, None, None, None), "x") == []
