"""What the load-test integration tests share: the gates' latency threshold, the one report a run leaves."""

from __future__ import annotations

from pathlib import Path

LATENCY_SLO = "latency: {signal: authorization_duration_seconds, under: 0.3}"
THRESHOLD_MS = 1000


def only_report(out: Path) -> Path:
    reports = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert len(reports) == 1, reports
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "a staging directory was left behind"
    return reports[0]
