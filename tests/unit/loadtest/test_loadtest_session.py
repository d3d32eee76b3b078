"""How a load-test run that cannot be made, or is stopped, ends: one error with where its logs are kept."""

from __future__ import annotations

import pytest

from moneypath.loadtest import runner
from moneypath.loadtest.inputs import UsageError
from moneypath.loadtest.session import RunFailed, reported


def staged(tmp_path):
    tmp, final = tmp_path / ".staging", tmp_path / "loadtest-checkout-1"
    tmp.mkdir()
    (tmp / "locust.log").write_text("what Locust said\n")
    return tmp, final


@pytest.mark.parametrize(("error", "code"), [(UsageError("--rate must be positive"), 2),
                                             (runner.LoadTestError("Locust exited 1"), 1)])
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
