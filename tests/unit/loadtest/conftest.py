"""Fixtures of the load-test unit tests: the shipped scenarios, the gates' thresholds, a run that starts nothing,
and the ticket shop's catalog and scenarios (tests/foreign)."""

from __future__ import annotations

import pytest

from moneypath.formats import scenarios
from moneypath.loadtest.command import gates
from tests.conftest import SHIPPED_SCENARIOS
from tests.unit.loadtest.helpers import FOREIGN_DIR, foreign_catalog


@pytest.fixture(scope="module")
def spec(catalog):
    return scenarios.load(SHIPPED_SCENARIOS, catalog)


@pytest.fixture
def thr(catalog):
    return gates.thresholds(catalog, reconcile_within_s=30)


@pytest.fixture
def no_run(monkeypatch):
    """Nothing is started: opening the target is recorded, `locust_run.run` is whatever a test sets."""
    from moneypath.loadtest.command import locust_run, targets

    opened = []

    def open_target(c, args, port, *_locustfile, **_where):
        opened.append(args)
        return locust_run.LoadTarget("http://127.0.0.1:9", "http://127.0.0.1:9", None, "t", None)

    monkeypatch.setattr(targets, "open_target", open_target)
    monkeypatch.setattr(targets, "close_target", lambda target: None)
    return opened


@pytest.fixture(scope="module")
def foreign():
    return foreign_catalog()


@pytest.fixture(scope="module")
def foreign_spec(foreign):
    return scenarios.load(FOREIGN_DIR / "scenarios.yaml", foreign)
