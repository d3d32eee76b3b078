"""How a load-test run that cannot be made, or is stopped (Ctrl-C, SIGTERM), ends: one error with where its logs
are kept, and what the run started stopped."""

from __future__ import annotations

import os
import signal

import pytest

from moneypath import cli
from moneypath.loadtest import locust_run
from moneypath.loadtest.inputs import UsageError
from moneypath.loadtest.session import RunFailed, reported
from tests.conftest import CATALOG_PATH


def staged(tmp_path):
    tmp, final = tmp_path / ".staging", tmp_path / "loadtest-checkout-1"
    tmp.mkdir()
    (tmp / "locust.log").write_text("what Locust said\n")
    return tmp, final


@pytest.mark.parametrize(("error", "code"), [(UsageError("--rate must be positive"), 2),
                                             (locust_run.LoadTestError("Locust exited 1"), 1)])
def test_a_run_that_cannot_be_made_fails_with_its_code_and_the_kept_logs(tmp_path, error, code):
    tmp, final = staged(tmp_path)
    with pytest.raises(RunFailed) as caught, reported(tmp, final, warn=pytest.fail):
        raise error
    kept = tmp_path / "loadtest-checkout-1-failed"
    assert caught.value.exit_code == code
    assert str(error) in str(caught.value) and str(kept) in str(caught.value)
    assert (kept / "locust.log").read_text() == "what Locust said\n" and not tmp.exists()


def test_an_interrupted_run_keeps_its_logs_says_where_and_goes_on_stopping(tmp_path):
    tmp, final = staged(tmp_path)
    said = []
    with pytest.raises(KeyboardInterrupt), reported(tmp, final, warn=said.append):
        raise KeyboardInterrupt
    kept = tmp_path / "loadtest-checkout-1-failed"
    assert said == [f"moneypath: the run stopped (KeyboardInterrupt); its logs are in {kept}"]


def test_sigterm_during_a_run_stops_the_stack_it_started_and_keeps_the_logs(tmp_path, monkeypatch, capsys):
    """What CI, systemd and `timeout` send: the run ends as after Ctrl-C, the target it opened (a stack it
    started) closed, Locust's log kept, one last line and 143."""
    from moneypath.loadtest import targets

    target = locust_run.Target("http://127.0.0.1:9", None, None, "t", None)
    closed = []
    monkeypatch.setattr(targets, "open_target", lambda *args, **kw: target)
    monkeypatch.setattr(targets, "close_target", closed.append)

    def run(c, spec, target, work, port, progress):
        work.mkdir(parents=True)
        (work / "locust.log").write_text("what Locust said\n")
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pause()  # not reached: the handler raises on delivery

    monkeypatch.setattr(locust_run, "run", run)
    code = cli.main(["loadtest", "checkout", "--out", str(tmp_path), "--catalog", str(CATALOG_PATH), "--no-prometheus"])
    err = capsys.readouterr().err
    (kept,) = [p for p in tmp_path.iterdir() if p.name.endswith("-failed")]
    assert code == 143 and closed == [target]
    assert err.splitlines() == [f"moneypath: the run stopped (Terminated); its logs are in {kept}",
                                "moneypath: terminated (SIGTERM)"]
    assert (kept / "locust" / "locust.log").read_text() == "what Locust said\n"
