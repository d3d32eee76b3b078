"""The load-test report, published whole (moneypath.loadtest.command.run_report)."""

from __future__ import annotations

import json

from moneypath.loadtest.command import gates, run_report


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


def test_a_gate_not_measured_is_rendered_as_such_in_markdown_html_and_the_terminal(tmp_path):
    """No mark for a gate not measured stopped the report with a KeyError, so exit 3 could never be reached."""
    reason = "not measured: Prometheus has no ledger imbalance gauge for the run"
    result = {"scenario": "checkout", "description": "d", "target": "http://127.0.0.1:1", "started_at": 0,
              "duration_s": 10, "rate": 2, "rate_unit": "flows/s", "users": 2, "workers": 0, "p99_threshold_ms": 300,
              "locust": {"rps": 6, "requests": 60, "failures": 0, "authorize_p50_ms": 1, "authorize_p95_ms": 2,
                         "authorize_p99_ms": 3, "by_name": [], "flows": 20, "flow_rps": 2, "flow_failures": 0,
                         "flow_p50_ms": 300, "flow_p95_ms": 500, "flow_p99_ms": 700,
                         "steps": [{"step": "authorize:checkoutComplete", "requests": 20, "failures": 0, "rps": 2,
                                    "p50_ms": 200, "p95_ms": 400, "p99_ms": 610},
                                   {"step": "FLOW checkout", "requests": 20, "failures": 0, "rps": 2, "p50_ms": 300,
                                    "p95_ms": 500, "p99_ms": 700}]},
              "prometheus_observations": None,
              "gates": [gates.Gate("ledger_balanced", "ledger balanced", "prometheus", "not measured", "no data",
                                   "0 in every currency", reason).to_dict(),
                        gates.Gate("duplicate_charges", "zero duplicate charges", "prometheus", "pass", "0", "0").to_dict()],
              "breaches": [reason], "passed": False, "verdict": "not measured"}
    run_report.render(result, [], {}, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "| ledger balanced | prometheus | NOT MEASURED | no data | 0 in every currency |" in md
    assert f"- {reason}" in md  # among the breaches: never a pass
    assert md.splitlines()[0] == "# Load test checkout: NOT MEASURED (no gate failed; a gate had no evidence)"
    assert "- **load**: 2 flows/s from 2 users at 1x" in md and "- **achieved**: 2.00 flows/s, 6.0 requests/s" in md
    assert "| FLOW checkout | 20 | 0 | 2.00 | 300 ms | 500 ms | 700 ms |" in md  # per step and per flow
    assert "- **flow p50 / p95 / p99 (first step to last, Locust)**: 300 ms / 500 ms / 700 ms" in md
    assert "- **authorizing step p50 / p95 / p99 (Locust: the service's whole call)**: 1 ms / 2 ms / 3 ms" in md
    html = (tmp_path / "report.html").read_text()
    row = html[html.index("<td>ledger balanced</td>") - 20:html.index(reason)]
    assert '<tr class="fail">' in row and "<td>NOT MEASURED</td>" in row
    assert "NOT MEASURED" in "\n".join(run_report.gate_table(result["gates"]))
