"""Workers sharing one port without a multi-process directory: the first collection in a process asks whether a
sibling holds its listening socket; if so the MoneyPath serving that registry logs once and counts it; never in
multiprocess mode, never again in that process, never failing the scrape. (The real gunicorn: tests/integration/
stack/test_counter_resets.py.)"""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from moneypath.catalog import load_catalog
from moneypath.instrument import MoneyPath, exposition
from moneypath.instrument._prometheus_backend import PrometheusBackend
from tests.conftest import FOREIGN_PATH

ERRORS = "shop_instrumentation_errors_total"


@pytest.fixture
def shop(monkeypatch):
    monkeypatch.setattr(exposition, "_checked_pid", 0)  # this process not checked yet
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return MoneyPath(load_catalog(FOREIGN_PATH), PrometheusBackend(CollectorRegistry()))


def _lines(caplog):
    return [r.getMessage() for r in caplog.records if "several processes serve this port" in r.getMessage()]


def test_a_shared_port_is_logged_once_and_counted(shop, monkeypatch, caplog):
    asked = []
    monkeypatch.setattr(exposition, "shares_listening_socket", lambda: asked.append(1) or True)
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    served = exposition.collection_registry(shop.registry)
    for _ in range(3):
        generate_latest(served)
    assert len(asked) == 1 and len(_lines(caplog)) == 1
    assert shop.registry.get_sample_value(ERRORS) == 1
    assert "PROMETHEUS_MULTIPROC_DIR is not set" in _lines(caplog)[0] and ERRORS in _lines(caplog)[0]


def test_a_port_of_its_own_is_quiet(shop, monkeypatch, caplog):
    monkeypatch.setattr(exposition, "shares_listening_socket", lambda: False)
    caplog.set_level(logging.WARNING, "moneypath.instrument")
    generate_latest(exposition.collection_registry(shop.registry))
    assert _lines(caplog) == [] and shop.registry.get_sample_value(ERRORS) == 0


def test_a_check_that_fails_never_fails_the_scrape(shop, monkeypatch):
    def broken():
        raise OSError("no /proc here")
    monkeypatch.setattr(exposition, "shares_listening_socket", broken)
    assert b"shop_authorizations_total" in generate_latest(exposition.collection_registry(shop.registry))
    assert shop.registry.get_sample_value(ERRORS) == 0


def test_this_test_process_shares_no_listening_socket():
    assert exposition.shares_listening_socket() is False
