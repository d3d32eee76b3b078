"""The reference service on a SQLite file, in process (the `service` fixture, offered by both tiers' refservice
conftest.py), and the token it takes."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry

from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.protocol.tokens import issue
from moneypath.reference.providersim.simulator_app import SimConfig
from moneypath.reference.providersim.simulator_app import create_app as create_sim
from moneypath.reference.refservice.app import ServiceConfig, create_app

SECRET = b"db-paths-secret"
WRITE = {"authorization": f"Bearer {issue(SECRET, 'merchant_1', ['payments:write'], ttl_s=3600)}"}


@pytest.fixture
def service(catalog, tmp_path):
    sim = create_sim(SimConfig(settlement_dir=tmp_path / "settlements", webhook_url=None, webhook_secret=b"w",
                               token_secret=SECRET, latency_scale=0))
    mp = MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))
    app = create_app(ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=SECRET,
                                   provider_url="http://sim", background_jobs=False),
                     mp=mp, provider_transport=httpx.ASGITransport(app=sim))
    yield app, tmp_path / "ledger.db"
    app.state.engine.dispose()
