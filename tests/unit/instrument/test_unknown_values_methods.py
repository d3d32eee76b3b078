"""Every label value outside the catalog is reported the same way whichever method recorded it: the instrumentation
errors counter goes up, one log line names the signal, the label and the value (once however often), and strict
mode raises it. The middleware's path folds its framework's routes and methods into "other" quietly. On the
reference catalog (every recording method on)."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from moneypath.catalog import load_catalog
from moneypath.instrument import MoneyPath, UnknownLabelValue
from moneypath.instrument._prometheus_backend import PrometheusBackend
from tests.conftest import CATALOG_PATH
from tests.support.signals import errors as errors_total

BAD = "bogus-value"
CALLS = {  # method: a call with one label value outside the catalog
    "record_authorization": lambda mp: mp.record_authorization("acme", BAD, "approved", 0.1),
    "record_ledger_write": lambda mp: mp.record_ledger_write(BAD, 0.1),
    "set_ledger_imbalance": lambda mp: mp.set_ledger_imbalance(BAD, 0),
    "count_shed": lambda mp: mp.count_shed(BAD),
    "record_reconciliation": lambda mp: mp.record_reconciliation(BAD, 1.0),
    "count_mismatch": lambda mp: mp.count_mismatch("acme", BAD),
    "count_duplicate_charge": lambda mp: mp.count_duplicate_charge(BAD, "EUR", 100),
    "set_queue_depth": lambda mp: mp.set_queue_depth(BAD, 1),
    "count_dead_letter": lambda mp: mp.count_dead_letter(BAD),
    "record_provider_call": lambda mp: mp.record_provider_call("acme", BAD, "success", 0.1),
    "count_provider_retry": lambda mp: mp.count_provider_retry(BAD, "capture"),
    "set_circuit_state": lambda mp: mp.set_circuit_state("acme", BAD),
    "count_idempotent_replay": lambda mp: mp.count_idempotent_replay(BAD),
    "count_webhook": lambda mp: mp.count_webhook("acme", BAD),
    "record_fraud_decision": lambda mp: mp.record_fraud_decision(BAD),
    "count_fraud_timeout": lambda mp: mp.count_fraud_timeout(BAD),
    "add_cost": lambda mp: mp.add_cost(BAD, 0.01),
    "record_http": lambda mp: mp.record_http("/payments/<payment_id>", "POST", 200, 0.1),  # Flask's template
    "count_http": lambda mp: mp.count_http("/healthz", BAD, 503),
    "count": lambda mp: mp.count("authorizations_total", provider="acme", method="card", outcome=BAD),
    "observe": lambda mp: mp.observe("authorization_duration_seconds", 0.1, provider=BAD, method="card"),
    "set": lambda mp: mp.set("queue_depth", 1, queue=BAD),
}


def reference(**options) -> MoneyPath:
    return MoneyPath(load_catalog(CATALOG_PATH), PrometheusBackend(CollectorRegistry()), **options)


def errors(mp: MoneyPath) -> float:
    return errors_total(mp)


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "moneypath.instrument"]


@pytest.mark.parametrize("method", sorted(CALLS))
def test_each_method_counts_and_logs_a_value_outside_the_catalog_once(method, caplog):
    mp = reference()
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    CALLS[method](mp)
    first = errors(mp)
    logged = lines(caplog)
    assert first >= 1, method
    assert logged and all("is not a value the catalog declares" in line and "(logged once)" in line for line in logged)
    shown = "'/payments/<payment_id>'" if method == "record_http" else repr(BAD)
    assert all(f"={shown} " in line for line in logged), logged
    CALLS[method](mp)
    assert errors(mp) == 2 * first and lines(caplog) == logged  # counted each time, logged once
    with pytest.raises(UnknownLabelValue):
        CALLS[method](reference(strict=True))


def test_the_middlewares_fold_their_frameworks_routes_and_methods_quietly(caplog):
    mp = reference()
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    mp.record_request("/docs", "/docs", "HEAD", 200, 0.01)
    mp.record_request("/docs", "/docs", "GET", 200, 0.01)
    mp.record_request(None, "/wp-login.php", "OPTIONS", 404, 0.01)
    assert errors(mp) == 1  # the undeclared /docs route, once; the HEAD, OPTIONS and the 404 quietly
    assert [line.split(":")[0] for line in lines(caplog)] == ["route '/docs' is served but the catalog does not "
                                                              "declare it"]
    name = mp.catalog.metric("http_requests_total")
    assert mp.registry.get_sample_value(name, {"route": "other", "method": "other", "status_class": "2xx"}) == 1
