"""An `init`-written catalog for the Flask, WSGI, aiohttp, Litestar and Quart integrations, and readers of what
they recorded."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import Key
from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.scaffold.catalog_template import ScaffoldOptions, catalog_yaml
from tests.support.signals import errors as errors_total

ROUTES = ["/orders/{order_id}", "/orders/new", "/orders/{order_id}/pay", "/orders/{order_id}/items/{item}", "/stream",
          "/boom", "/healthz"]
HTTP = Key.HTTP_REQUESTS_TOTAL
SECONDS = Key.HTTP_REQUEST_DURATION_SECONDS


def write_catalog(directory):
    from moneypath.catalog.features import FEATURES

    options = ScaffoldOptions(service="shop", providers=["paystack"], currencies=["USD"],
                              features={name: False for name in FEATURES}, routes=ROUTES)
    path = directory / "moneypath.yaml"
    path.write_text(catalog_yaml(options))
    return path


@pytest.fixture(scope="session")
def catalog_path(tmp_path_factory):
    return write_catalog(tmp_path_factory.mktemp("frameworks"))


@pytest.fixture
def mp(catalog_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return MoneyPath(load_catalog(catalog_path), PrometheusBackend(CollectorRegistry()))


def sample(mp, key: str, suffix: str = "", **labels) -> float:
    return mp.registry.get_sample_value(mp.catalog.metric(key) + suffix, labels) or 0.0


def errors(mp, reason: str | None = None) -> float:
    return errors_total(mp, reason)


def moneypath_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "moneypath.instrument" and r.levelno >= logging.WARNING]
