"""Locust's statistics as Prometheus metrics (moneypath.loadtest.in_locust.exporter)."""

from __future__ import annotations

from types import SimpleNamespace

from moneypath.catalog.conventions import LOCUST_METRICS
from moneypath.loadtest.in_locust.exporter import registry_for


def test_exporter_serves_locust_stats_under_the_dashboard_names():
    entries = {("authorize [acme]", "POST"): SimpleNamespace(num_requests=40, num_failures=2, current_rps=4.5,
                                                             avg_response_time=120.0)}
    env = SimpleNamespace(runner=SimpleNamespace(stats=SimpleNamespace(entries=entries), user_count=7))
    from prometheus_client import generate_latest

    text = generate_latest(registry_for(env)).decode()
    labels = '{method="POST",name="authorize [acme]"}'
    assert f"{LOCUST_METRICS['requests']}{labels} 40.0" in text
    assert f"{LOCUST_METRICS['failures']}{labels} 2.0" in text
    assert f"{LOCUST_METRICS['rps']}{labels} 4.5" in text
    assert f"{LOCUST_METRICS['avg_response_ms']}{labels} 120.0" in text
    assert f"{LOCUST_METRICS['users']} 7.0" in text
    served = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    assert served == set(LOCUST_METRICS.values())
    assert "Aggregated" not in text
    empty = generate_latest(registry_for(SimpleNamespace(runner=None))).decode()
    assert f"{LOCUST_METRICS['users']} 0.0" in empty
