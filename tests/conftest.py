from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from moneypath.catalog import load_catalog
from moneypath.instrument.prometheus import PrometheusBackend
from moneypath.instrument.signals import MoneyPath
from tests import pgserver

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


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.2):
    """Poll until predicate() is truthy (returned), or fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL server on 127.0.0.1 for the session (tests/pgserver.py); skips if none can run."""
    try:
        with pgserver.running_server(free_port) as server:
            yield server
    except pgserver.Unavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture
def pg_url(pg_server):
    """URL of a fresh, empty database on the session's server, dropped after the test."""
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)
