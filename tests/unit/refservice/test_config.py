"""The service's configuration: from the environment, refused with one line, instrumentation off."""

from __future__ import annotations

import httpx
import pytest

from moneypath.reference.providersim.simulator_app import SimConfig
from moneypath.reference.providersim.simulator_app import create_app as create_sim
from moneypath.reference.refservice.app import ServiceConfig, create_app
from moneypath.reference.refservice.risk import RiskPolicy
from tests.support.refservice import SECRET, authorize, call


@pytest.mark.parametrize("env, message", [
    ({}, "set MONEYPATH_TOKEN_SECRET"),
    ({"MONEYPATH_TOKEN_SECRET": "s", "MONEYPATH_RISK_FALLBACK": "maybe"}, "MONEYPATH_RISK_FALLBACK='maybe'"),
    ({"MONEYPATH_TOKEN_SECRET": "s", "MONEYPATH_RISK_TIMEOUT_MS": "fast"}, "MONEYPATH_RISK_TIMEOUT_MS='fast' is not"),
    ({"MONEYPATH_TOKEN_SECRET": "s", "MONEYPATH_RECONCILE_INTERVAL_S": "0"}, "must be between"),
])
def test_bad_configuration_stops_with_one_line(env, message):
    with pytest.raises(SystemExit) as stopped:
        ServiceConfig.from_env(env)
    assert message in str(stopped.value) and "\n" not in str(stopped.value)


def test_configuration_from_the_environment():
    config = ServiceConfig.from_env({"MONEYPATH_TOKEN_SECRET": "s", "MONEYPATH_ENABLE_FAULTS": "1",
                                     "MONEYPATH_RISK_FALLBACK": "hold", "MONEYPATH_RISK_TIMEOUT_MS": "80",
                                     "MONEYPATH_SETTLEMENT_DIR": "/tmp/s"})
    assert config.enable_faults and config.settlement_dir == "/tmp/s"
    assert config.risk == RiskPolicy(timeout_s=0.08, fallback="hold", allow_limit_minor=5000)


def test_with_instrumentation_off_payments_work_and_nothing_is_exposed(catalog, tmp_path):
    sim = create_sim(SimConfig(settlement_dir=tmp_path / "s", webhook_url=None, webhook_secret=b"w",
                               token_secret=SECRET, latency_scale=0))
    app = create_app(ServiceConfig(catalog=str(catalog.path), db_url=f"sqlite:///{tmp_path / 'l.db'}",
                                   token_secret=SECRET, provider_url="http://sim", background_jobs=False,
                                   instrumented=False), provider_transport=httpx.ASGITransport(app=sim))
    assert app.state.mp.backend.name == "none"
    assert authorize(app, "off-1").status_code == 201
    assert call(app, "GET", "/metrics").status_code == 404
