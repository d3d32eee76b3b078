"""The incident clock exporter (moneypath.stack.clock_exporter): the state file as gauges at every scrape, and
problem+json when it cannot be read or the path is not served."""

from __future__ import annotations

from starlette.testclient import TestClient

from moneypath.check import report_clocks as rc
from moneypath.stack.clock_exporter import create_app


def test_metrics_follow_the_state_file_and_errors_are_problems(foreign, tmp_path):
    path = rc.state_path(tmp_path)
    client = TestClient(create_app(foreign, path))
    empty = client.get("/metrics")
    assert empty.status_code == 200 and "# TYPE shop_incident_report_deadline_timestamp_seconds gauge" in empty.text
    data = {"incidents": {}}
    rc.start(data, "INC-3", 1000.0, 2000.0)
    rc.save(path, data)
    text = client.get("/metrics").text  # read again at this scrape: no restart
    assert 'shop_incident_report_deadline_timestamp_seconds{incident="INC-3",report="initial"} 16400' in text
    path.write_text("{")
    broken = client.get("/metrics")
    assert broken.status_code == 500 and broken.headers["content-type"] == "application/problem+json"
    assert "cannot be read as incident clocks" in broken.json()["detail"]
    missing = client.get("/nothing")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
