"""`moneypath up` runs the reference service with signed audit checkpoints: a key made once in the state directory
(mode 0600, beside the ledger, never in it), the checkpoints in <state>/audit-checkpoints, `up` and `status` say
where, and the command `up` prints verifies the stack's ledger against them after `down`. On the compressed stack
(rules 60x faster) AuditCheckpointStale stays quiet while the service signs, fires once signing fails while events
keep coming, and resolves when it signs again."""

from __future__ import annotations

import os
import shlex
import stat
import threading
import time

import httpx
import pytest

from moneypath.catalog.conventions import Key
from moneypath.stack import local as stack
from tests.conftest import wait_for
from tests.foreign.harness import moneypath
from tests.support.stack_traffic import authorize_until

pytestmark = pytest.mark.integration


def query(prometheus: str, expr: str) -> float | None:
    result = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def firing(prometheus: str, alertname: str) -> bool:
    alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return any(a["labels"]["alertname"] == alertname and a["state"] == "firing" for a in alerts)


def test_the_stack_signs_checkpoints_says_where_and_stale_signing_raises_a_ticket(tmp_path, catalog):
    state_dir = (tmp_path / "stack").resolve()
    stop = threading.Event()
    driver = None
    try:
        up = moneypath("up", "--state-dir", str(state_dir), "--fast", "--time-factor", "60", timeout=120)
        key, pub, checkpoints = (state_dir / "audit-checkpoint.key", state_dir / "audit-checkpoint.pub",
                                 state_dir / "audit-checkpoints")
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.read_text().startswith("PRIVATE+KEY+")
        verify_line = next(line for line in up.stdout.splitlines() if line.startswith("audit checkpoints:"))
        command = verify_line.split("check the ledger against them: ", 1)[1]
        assert command == (f"moneypath audit verify --db sqlite:///{state_dir / 'ledger.db'} --checkpoints "
                           f"{checkpoints} --key {pub}")

        state = stack.load_state(state_dir)
        secret = stack.read_secrets(state_dir)["token_secret"].encode()
        prometheus, alert = state.url("prometheus"), catalog.alert_name("AuditCheckpointStale")
        head, signed = (f"max({catalog.metric(k)})" for k in (Key.AUDIT_HEAD_SEQ, Key.AUDIT_CHECKPOINT_SEQ))
        driver = threading.Thread(target=authorize_until, args=(state.url("refservice"), secret, stop, 10, ("acme",)),
                                  daemon=True)
        driver.start()

        def caught_up():
            h, s = query(prometheus, head), query(prometheus, signed)
            return h is not None and h >= 20 and s is not None and s >= h - 40 and (h, s)

        wait_for(caught_up, 60, "the service to sign checkpoints that follow its head")
        status = moneypath("status", "--state-dir", str(state_dir), check=False, timeout=30)
        line = next(x for x in status.stdout.splitlines() if x.startswith("refservice"))
        assert ", audit checkpoints: " in line and f" in {checkpoints} (newest seq " in line, line
        assert not firing(prometheus, alert)  # signing, under load: the checkpoint trails the head by seconds

        # Signing fails (the directory replaced by a file: a lost mount), events keep coming: a ticket.
        aside = tmp_path / "checkpoints-aside"
        checkpoints.rename(aside)
        checkpoints.write_text("not a directory\n")
        stopped = time.monotonic()
        wait_for(lambda: firing(prometheus, alert), 90, f"{alert} while nothing is signed")
        fired = time.monotonic() - stopped
        checkpoints.unlink()
        aside.rename(checkpoints)
        wait_for(lambda: not firing(prometheus, alert), 60, f"{alert} to resolve once the service signs again")
        print(f"\n{alert} fired {fired:.1f} s after signing stopped (floor at 60x: 15 s wait + 10 s for:), "
              f"resolved {time.monotonic() - stopped - fired:.1f} s after it resumed")
        assert fired >= 20  # not before events waited the (compressed) threshold and for: (less the 2 s interval)
    finally:
        stop.set()
        if driver is not None:
            driver.join(timeout=15)
        moneypath("down", "--state-dir", str(state_dir), check=False, timeout=60)

    # After `down` the service's last act was a checkpoint of its head: every event is covered.
    verified = moneypath(*shlex.split(command)[1:], "--covered", check=False, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit chain intact" in verified.stdout and "passes through" in verified.stdout, verified.stdout

    # The key is made once: a second `up` keeps it (the checkpoints it signed stay verifiable).
    before = pub.read_text()
    try:
        moneypath("up", "--state-dir", str(state_dir), "--fast", timeout=120)
        assert pub.read_text() == before and os.stat(key).st_mode & 0o077 == 0
    finally:
        moneypath("down", "--state-dir", str(state_dir), check=False, timeout=60)


def test_a_teams_own_service_is_not_assumed_to_sign(tmp_path):
    """--target (the audit feature on in the catalog): the stack starts no service, so it makes no key and says
    nothing about checkpoints: whether the team's service signs is the team's."""
    state_dir = tmp_path / "stack"
    try:
        up = moneypath("up", "--state-dir", str(state_dir), "--fast", "--target", "127.0.0.1:9", "--target-wait", "0",
                       check=False, timeout=90)
        assert up.returncode == 0, up.stderr
        assert "audit checkpoints" not in up.stdout and not (state_dir / "audit-checkpoint.key").exists()
    finally:
        moneypath("down", "--state-dir", str(state_dir), check=False, timeout=60)
