"""The load-test report, published whole (moneypath.loadtest.run_report)."""

from __future__ import annotations

import json

from moneypath.loadtest import gates, run_report


def test_report_is_published_whole(tmp_path):
    tmp, final = run_report.staging_dir(tmp_path, "loadtest-checkout")
    assert tmp.name.startswith(".") and not final.exists()
    result = {"scenario": "checkout", "description": "d", "target": "http://127.0.0.1:1", "started_at": 0,
              "duration_s": 10, "rate": 5, "users": 5, "workers": 0, "p99_threshold_ms": 300,
              "locust": {"rps": 5, "requests": 50, "failures": 0, "authorize_p50_ms": 1, "authorize_p95_ms": 2,
                         "authorize_p99_ms": None, "by_name": []},
              "prometheus_observations": None, "gates": [gates.Gate("x", "a <gate>", "locust", "fail", "1", "0",
                                                                    "why").to_dict()],
              "breaches": ["why"], "passed": False}
    run_report.render(result, [], {}, tmp)
    run_report.publish(tmp, final)
    assert not tmp.exists()
    assert "a &lt;gate&gt;" in (final / "report.html").read_text()
    md = (final / "report.md").read_text()
    assert "# Load test checkout: FAILED" in md
    names = md[md.index("## Requests by name"):]  # what a request's provider in brackets means, said where they show
    assert names.splitlines()[2].startswith('_"[x]" in a name: the service\'s answer named provider x; "[requested x]": ')
    assert json.loads((final / "result.json").read_text())["passed"] is False
    lines = run_report.gate_table(result["gates"])
    assert lines[0].startswith("gate") and "FAIL" in lines[2]
