"""A label value outside the catalog (a typo such as "stirpe") lands in "other", is counted as an instrumentation
error and logged once; strict mode raises it. On the foreign ticket shop's catalog (komoju, knet)."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from moneypath.catalog import load_catalog, parse_catalog
from moneypath.instrument import UnknownLabelValue
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.instrument._signals import STRICT_ENV, MoneyPath
from tests.conftest import FOREIGN_PATH

ERRORS = "shop_instrumentation_errors_total"


def shop(**options) -> MoneyPath:
    return MoneyPath(load_catalog(FOREIGN_PATH), PrometheusBackend(CollectorRegistry()), **options)


def sample(mp: MoneyPath, name: str, **labels) -> float | None:
    return mp.registry.get_sample_value(name, labels)


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "moneypath.instrument"]


def test_a_provider_typo_lands_in_other_counted_and_logged_once(caplog):
    mp = shop()
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    for _ in range(3):
        mp.record_authorization("komojo", "card", "approved", 0.1)
    mp.record_authorization("komoju", "card", "approved", 0.1)
    assert sample(mp, "shop_authorizations_total", provider="other", method="card", outcome="approved") == 3
    assert sample(mp, "shop_authorizations_total", provider="komoju", method="card", outcome="approved") == 1
    assert sample(mp, ERRORS) == 6  # one per series recorded into "other": the latency and the count, 3 times
    assert warnings(caplog) == [
        f"shop_{key}: provider='komojo' is not a value the catalog declares (komoju, knet): recorded as other and "
        f"counted in {ERRORS} (logged once)" for key in ("authorization_duration_seconds", "authorizations_total")]


def test_every_recording_method_reports_its_unknown_values(caplog):
    mp = shop()
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    mp.record_provider_call("knet", "authorise", "success", 0.2)  # operation typo
    mp.count_provider_retry("knet", "refund")
    mp.count_idempotent_replay("captrue")
    mp.count("ledger_writes_total", outcome="comitted")
    assert sample(mp, ERRORS) == 4  # provider_requests_total, provider_request_duration_seconds, replays, ledger
    logged = warnings(caplog)
    assert [line.split(":")[0] for line in logged] == [
        "shop_provider_requests_total", "shop_provider_request_duration_seconds", "shop_idempotent_replays_total",
        "shop_ledger_writes_total"]
    assert "operation='authorise'" in logged[0] and "outcome='comitted'" in logged[3]


def test_other_passed_on_purpose_and_a_missing_label_are_not_mistakes(caplog):
    mp = shop()
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    mp.count_duplicate_charge("other", "JPY", 500)
    mp.count("provider_retries_total", provider="knet")  # operation missing: "other", as documented
    assert sample(mp, ERRORS) == 0 and warnings(caplog) == []


def test_a_frameworks_method_is_not_a_mistake_and_its_undeclared_route_is_said_once(caplog):
    mp = shop()
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    for _ in range(3):
        mp.record_request("/docs", "/docs", "HEAD", 200, 0.01)  # what a middleware records
    assert sample(mp, ERRORS) == 1 and len(warnings(caplog)) == 1  # the route, once; the HEAD quietly
    assert warnings(caplog)[0].startswith("route '/docs' is served but the catalog does not declare it")
    mp.record_http("/docs", "HEAD", 200, 0.01)  # the caller's own values: reported as any method's
    assert sample(mp, ERRORS) == 5 and len(warnings(caplog)) == 5  # route and method, count and latency


def test_a_card_number_is_counted_but_never_logged(caplog):
    mp = shop()
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    mp.record_authorization("knet", "4111 1111 1111 1111", "approved", 0.1)
    assert sample(mp, ERRORS) == 2
    logged = warnings(caplog)
    assert len(logged) == 2 and all("method=<a card number, not logged>" in line for line in logged)
    assert not any("4111" in line for line in logged)


def test_hostile_values_are_counted_every_time_and_logged_a_bounded_number_of_times(caplog, monkeypatch):
    monkeypatch.setattr("moneypath.instrument._failures.UNKNOWN_LOG_LIMIT", 5)
    mp = shop()
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    for i in range(50):
        mp.count_idempotent_replay(f"op{i}")
    assert sample(mp, ERRORS) == 50
    assert len(warnings(caplog)) == 5


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_strict_mode_raises_instead(how, monkeypatch):
    if how == "environment":
        monkeypatch.setenv(STRICT_ENV, "1")
    mp = shop(strict=True) if how == "argument" else shop()
    with pytest.raises(UnknownLabelValue, match=r"shop_authorization_duration_seconds: provider='stirpe' is not a "
                                                r"value the catalog declares \(komoju, knet\)"):
        mp.record_authorization("stirpe", "card", "approved", 0.1)
    with pytest.raises(ValueError, match="finite"):  # every other instrumentation failure too
        mp.record_ledger_write("committed", float("nan"))
    mp.record_authorization("knet", "card", "approved", 0.1)  # declared values record as ever
    assert sample(mp, "shop_authorizations_total", provider="knet", method="card", outcome="approved") == 1


def test_strict_mode_never_shows_a_card_number():
    with pytest.raises(UnknownLabelValue) as info:
        shop(strict=True).count_idempotent_replay("4111111111111111")
    assert "4111" not in str(info.value)


def test_strict_off_in_the_environment_by_default(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    mp = shop()
    mp.record_authorization("stirpe", "card", "approved", 0.1)
    assert not mp.strict and sample(mp, ERRORS) == 2


def test_count_shed_reports_a_priority_the_catalog_does_not_declare(caplog):
    text = FOREIGN_PATH.read_text().replace("features: {", "features: {admission: true, ").replace(
        "\nslos:\n", "\n  requests_shed_total:\n    type: counter\n    help: Requests refused at once.\n"
                     "    labels: {priority: [vip, walk_in]}\n\nslos:\n")
    mp = MoneyPath(parse_catalog(text, "shop.yaml"), PrometheusBackend(CollectorRegistry()))
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    mp.count_shed("walk_in")
    mp.count_shed("critical")  # the reference catalog's class, not this one's
    assert sample(mp, "shop_requests_shed_total", priority="other") == 1
    assert sample(mp, ERRORS) == 1
    assert warnings(caplog) == [f"shop_requests_shed_total: priority='critical' is not a value the catalog declares "
                                f"(vip, walk_in): recorded as other and counted in {ERRORS} (logged once)"]
