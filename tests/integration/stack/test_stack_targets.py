"""`moneypath up --target` on a port nobody listens on: the stack starts, and `up` and `status` both name the
target that does not answer (the trial saw exit 0 and `targets up 0/1`, not which). The ticket shop's catalog."""

from __future__ import annotations

import pytest

from tests.conftest import FOREIGN_PATH, free_port, wait_for
from tests.foreign.harness import moneypath

pytestmark = pytest.mark.integration


def test_up_and_status_name_a_target_that_does_not_answer(tmp_path):
    state_dir = tmp_path / "stack"
    target = f"127.0.0.1:{free_port()}"
    try:
        up = moneypath("up", "--catalog", str(FOREIGN_PATH), "--state-dir", str(state_dir), "--target", target,
                       "--fast", timeout=90)
        assert up.stderr.splitlines() == [
            f"warning: target {target} does not answer (connection refused): Prometheus keeps trying, but nothing of "
            "it is scraped until it does; is the service running, and is --target its host:port?"]
        assert "stack up: Prometheus" in up.stdout

        def prometheus_line():
            status = moneypath("status", "--state-dir", str(state_dir), check=False, timeout=30)
            line = next(x for x in status.stdout.splitlines() if x.startswith("prometheus"))
            return line if "down:" in line else None

        line = wait_for(prometheus_line, 30, "Prometheus to scrape the target once")
        assert line.endswith(f", targets up 0/1; down: {target} (connection refused)"), line
    finally:
        moneypath("down", "--state-dir", str(state_dir), check=False, timeout=60)
