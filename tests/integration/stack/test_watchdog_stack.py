"""The dead man's switch for real, on the ticket shop's catalog: Prometheus fires the watchdog, Alertmanager
repeats it to the pager's switch receiver every few seconds (fast timings), and when Alertmanager dies the
pager reports the heartbeat late on GET /watchdog, in `moneypath status` and on its log."""

from __future__ import annotations

import os
import signal

import httpx
import pytest

from moneypath.stack import local as stack
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def test_the_heartbeat_arrives_and_its_absence_is_reported(foreign, tmp_path):
    state_dir = tmp_path / "stack"
    state = stack.up(foreign, state_dir, stack.StackSpec(fast=True), progress=lambda *_: None)
    try:
        pager = state.url("pager")

        def watchdog() -> dict:
            return httpx.get(f"{pager}/watchdog", timeout=5).json()

        wait_for(lambda: watchdog()["status"] == "ok", 60, "the first heartbeat")
        assert httpx.get(f"{pager}/pages", timeout=5).json() == []  # heartbeats are not pages
        rows = {name: detail for name, _, _, detail in stack.status(state_dir)}
        assert ", watchdog ok (last " in rows["pager"]
        first = watchdog()["last_seen"]
        wait_for(lambda: watchdog()["last_seen"] > first, 30, "a repeated heartbeat")

        am = next(p for p in state.parts if p.name == "alertmanager")
        os.kill(am.pid, signal.SIGKILL)
        timeout = watchdog()["timeout_s"]
        late = wait_for(lambda: (w := watchdog())["status"] == "late" and w, timeout + 30, "the heartbeat to go late")
        assert late["age_s"] > timeout
        line = f"(timeout {timeout:g} s): Prometheus, its rules or Alertmanager may be down"
        # the pager's watch loop says it within a second of the status turning late
        wait_for(lambda: line in (state_dir / "logs" / "pager.log").read_text(), 10, "the pager to say it")
        rows = {name: detail for name, _, _, detail in stack.status(state_dir)}
        assert ", watchdog late (" in rows["pager"]
    finally:
        stack.down(state_dir, progress=lambda *_: None)
