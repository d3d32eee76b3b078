"""moneypath.check.scraped_identity on Prometheus's answers: an address balancing two instances passes when both are
scraped, an identity not scraped fails with one line, a target that is down or answers without the header is not
measured, and a fresh process is waited for until its first scrape."""

from __future__ import annotations

import pytest

from moneypath._common.prometheus import PrometheusError
from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS
from moneypath.catalog.conventions import INSTANCE_HEADER
from moneypath.check import scraped_identity as si
from tests.support.identity_prom import FakeProm

A, B, C = "a1b2c3-4242", "9f8e7d-4243", "0c0c0c-4244"


def prove(prom, seen, catalog, **kw):
    clock = iter(range(0, 10_000))
    return si.prove(prom, catalog, "http://127.0.0.1:8001", seen, sleep=lambda s: None, clock=lambda: next(clock),
                    **kw)


def test_an_address_balancing_two_instances_passes_when_both_are_scraped(catalog):
    prom = FakeProm(info={A: ("127.0.0.1:8101", "shop"), B: ("127.0.0.1:8102", "shop")},
                    up={("127.0.0.1:8101", "shop"): 1, ("127.0.0.1:8102", "shop"): 1})
    check = prove(prom, {A, B}, catalog)
    assert check.outcome is PASS, check.why
    assert check.why == ("127.0.0.1:8001 answered as 9f8e7d (pid 4243), a1b2c3 (pid 4242), each scraped by Prometheus "
                         "(9f8e7d (pid 4243) at 127.0.0.1:8102, a1b2c3 (pid 4242) at 127.0.0.1:8101)")
    assert f"{catalog.namespace}_instance_info" in prom.queries[0]


def test_an_identity_not_scraped_fails_with_one_line_naming_both(catalog):
    prom = FakeProm(info={B: ("127.0.0.1:8002", "shop")}, up={("127.0.0.1:8002", "shop"): 1})
    check = prove(prom, {A}, catalog, settle=5)
    assert check.outcome is FAIL
    assert check.why == ("127.0.0.1:8001 answered as a1b2c3 (pid 4242); Prometheus scrapes only 9f8e7d (pid 4243) at "
                         "127.0.0.1:8002: the drill would read another instance's metrics")
    assert check.figures["seen"] == [A] and check.figures["scraped"] == [B]
    assert sum("instance_info" in q for q in prom.queries) > 2  # waited for a scrape before failing


def test_one_of_two_instances_not_scraped_fails_naming_it(catalog):
    prom = FakeProm(info={B: ("127.0.0.1:8002", "shop")}, up={("127.0.0.1:8002", "shop"): 1})
    check = prove(prom, {A, B}, catalog, settle=0, reader="the load test")
    assert check.outcome is FAIL
    assert check.why.endswith("the load test would miss a1b2c3 (pid 4242)'s metrics"), check.why


def test_a_process_not_scraped_yet_is_waited_for(catalog):
    prom = FakeProm(info={A: ("127.0.0.1:8001", "shop")}, up={("127.0.0.1:8001", "shop"): 1}, after=2)
    assert prove(prom, {A}, catalog).outcome is PASS


def test_scraped_at_a_target_that_is_down_now_is_not_measured(catalog):
    prom = FakeProm(info={A: ("127.0.0.1:8001", "shop")}, up={("127.0.0.1:8001", "shop"): 0})
    check = prove(prom, {A}, catalog)
    assert check.outcome is NOT_MEASURED and check.breach
    assert "but that target is down now (up == 0)" in check.why


def test_the_driven_address_down_as_a_target_is_not_measured(catalog):
    prom = FakeProm(info={B: ("127.0.0.1:8002", "shop")},
                    up={("127.0.0.1:8002", "shop"): 1, ("127.0.0.1:8001", "shop"): 0})
    check = prove(prom, {A}, catalog, settle=0)
    assert check.outcome is NOT_MEASURED
    assert "Prometheus's target at 127.0.0.1:8001 is down (127.0.0.1:8001 (job shop: connection refused))" in check.why


def test_answers_without_the_header_are_not_measured_and_skipped(catalog):
    check = prove(FakeProm(), si.seen_in([{"content-type": "application/json"}]), catalog)
    assert check.outcome is NOT_MEASURED and check.skipped
    assert f"carry no {INSTANCE_HEADER} header" in check.why


def test_no_identity_in_prometheus_at_all_is_not_measured(catalog):
    check = prove(FakeProm(up={("127.0.0.1:8001", "shop"): 1}), {A}, catalog, settle=0)
    assert check.outcome is NOT_MEASURED and check.breach
    assert "Prometheus holds no" in check.why


def test_prometheus_unreachable_is_not_measured(catalog):
    class Unreachable(FakeProm):
        def targets(self):
            raise PrometheusError("cannot reach Prometheus at http://127.0.0.1:1: ConnectError", url="", path="")

    check = prove(Unreachable(), {A}, catalog)
    assert check.outcome is NOT_MEASURED and "cannot reach Prometheus" in check.why


@pytest.mark.parametrize("url, address", [("http://127.0.0.1:8001/", "127.0.0.1:8001"),
                                          ("https://shop.example", "shop.example:443"),
                                          ("http://[::1]:8001", "::1:8001")])
def test_the_address_is_host_and_port(url, address):
    assert si.address_of(url) == address


def test_the_settle_time_is_two_scrape_intervals_capped():
    assert si.settle_s(FakeProm(up={("x:1", "j"): 1}, interval="15s")) == 31.0
    assert si.settle_s(FakeProm(up={("x:1", "j"): 1}, interval="5m")) == si.SETTLE_CAP_S
