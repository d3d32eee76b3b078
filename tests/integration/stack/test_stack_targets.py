"""`moneypath up --target` on a port nobody listens on: with `--target-wait 0` the stack starts, and `up` and
`status` both name the target that does not answer (the trial saw exit 0 and `targets up 0/1`, not which); with a
wait, `up` names it while it waits, then stops the stack in one line, exit 1. The ticket shop's catalog.
docs/stack.md's first example, command for command."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import FOREIGN_PATH, free_port, wait_for
from tests.docs_examples import args_of, code_block, fill, required, shell, substitute
from tests.foreign.harness import moneypath

pytestmark = pytest.mark.integration


def test_up_and_status_name_a_target_that_does_not_answer(tmp_path):
    up_line, status_line, curl_line, down_line = shell(code_block("docs/stack.md", "The local stack", "sh"))
    state_dir = tmp_path / "stack"
    where = ("--catalog", str(FOREIGN_PATH), "--state-dir", str(state_dir))  # not the repository's .moneypath/
    target = f"127.0.0.1:{free_port()}"
    try:
        up = moneypath(*fill(required(args_of(up_line), "--fast", "--target", "--target-wait"), target=target,
                             target_wait="0"), *where, timeout=90)
        assert up.stderr.splitlines() == [
            f"warning: target {target} does not answer (connection refused): Prometheus keeps trying, but nothing of "
            "it is scraped until it does; is the service running, and is --target its host:port?"]
        assert "stack up: Prometheus" in up.stdout

        def prometheus_line():
            status = moneypath(*args_of(status_line), *where[2:], check=False, timeout=30)
            line = next(x for x in status.stdout.splitlines() if x.startswith("prometheus"))
            return (line, status.stdout) if "down:" in line else None

        line, status = wait_for(prometheus_line, 30, "Prometheus to scrape the target once")
        assert line.endswith(f", targets up 0/1; down: {target} (connection refused)"), line
        pager = next(x.split()[2] for x in status.splitlines() if x.startswith("pager"))
        curl = substitute(curl_line, {"http://127.0.0.1:<pager-port>/pages": f"{pager}/pages"})
        pages = subprocess.run(curl, capture_output=True, text=True, timeout=10)
        assert pages.returncode == 0 and isinstance(json.loads(pages.stdout), list), pages
    finally:
        moneypath(*args_of(down_line), *where[2:], check=False, timeout=60)


def test_up_stops_when_a_target_never_answers_its_first_scrape(tmp_path):
    state_dir = tmp_path / "stack"
    target = f"127.0.0.1:{free_port()}"
    up = moneypath("up", "--catalog", str(FOREIGN_PATH), "--state-dir", str(state_dir), "--fast", "--target", target,
                   "--target-wait", "8", check=False, timeout=90)
    try:
        assert up.returncode == 1, up.stderr
        assert up.stderr == (f"moneypath: {target} did not answer its first scrape within 8 s (connection refused); "
                             "the stack is stopped: start the service first, check --target, or give --target-wait "
                             "SECONDS (0: start without waiting, alert rules on at once)\n")
        assert f"waiting for {target} to answer its first scrape (" in up.stdout
        assert not (state_dir / "stack.json").exists()  # nothing left running
    finally:
        moneypath("down", "--state-dir", str(state_dir), check=False, timeout=60)
