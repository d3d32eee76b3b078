"""The drill runner with a canned run: each drill's run returns `journal` at once and its report is not drawn, so a
test sees what the runner does after a run (records, hand-offs) without a stack."""

from __future__ import annotations

from moneypath.drills import runner
from moneypath.drills.endpoints import Target
from moneypath.drills.report import rendering

TARGET = Target(service="http://127.0.0.1:9", prometheus="http://127.0.0.1:9", time_factor=60)


def canned_runs(monkeypatch, journal: dict) -> Target:
    """Make every drill run return a copy of `journal`; the target to hand to `runner.run_drills`."""

    class Run:
        interrupted, alerts = False, {}

        def __init__(self, *args, **kwargs):
            pass

        def run(self):
            return dict(journal)

        def close(self):
            pass

    monkeypatch.setattr(runner, "DrillRun", Run)
    monkeypatch.setattr(rendering, "render", lambda journal, folder, catalog: folder / "report.md")
    return TARGET
