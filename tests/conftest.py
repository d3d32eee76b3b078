from __future__ import annotations

import socket
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from moneypath.catalog import load_catalog
from moneypath.instrument.prometheus import PrometheusBackend
from moneypath.instrument.signals import MoneyPath

ROOT = Path(__file__).resolve().parent.parent
CATALOG_PATH = ROOT / "moneypath.yaml"


@pytest.fixture(scope="session")
def catalog():
    return load_catalog(CATALOG_PATH)


@pytest.fixture
def mp(catalog):
    return MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
