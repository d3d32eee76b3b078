"""bench_canary refuses arguments that cannot make a run, in one line, before it draws anything."""

from __future__ import annotations

import pytest
from benchmarks import bench_canary


@pytest.mark.parametrize("argv", [["--runs", "0"], ["--time-runs", "1"], ["--look-every", "0"],
                                  ["--rate", "0.1", "--look-every", "1"]])
def test_arguments_that_cannot_make_a_run_are_one_line_before_anything_runs(monkeypatch, argv):
    monkeypatch.setattr("sys.argv", ["bench_canary.py", *argv])
    monkeypatch.setattr(bench_canary, "run_one", lambda *a, **k: pytest.fail("a canary was drawn"))
    with pytest.raises(SystemExit) as exited:
        bench_canary.main()
    assert str(exited.value).startswith("bench_canary: ") and "\n" not in str(exited.value)
