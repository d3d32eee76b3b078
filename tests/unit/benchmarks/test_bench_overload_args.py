"""bench_overload refuses arguments that cannot make a round, in one line, before it starts anything."""

from __future__ import annotations

import pytest
from benchmarks import bench_overload


@pytest.mark.parametrize("argv", [["--seconds", "0"], ["--recovery", "-1"], ["--rounds", "0"], ["--overload", "0.5"],
                                  ["--normal", "1"], ["--conditions", "sometimes"]])
def test_arguments_that_cannot_make_a_round_are_one_line_before_anything_starts(monkeypatch, argv):
    monkeypatch.setattr("sys.argv", ["bench_overload.py", *argv])
    monkeypatch.setattr(bench_overload, "one_round", lambda *a, **k: pytest.fail("a round started"))
    with pytest.raises(SystemExit) as exited:
        bench_overload.main()
    assert str(exited.value).startswith("bench_overload: ") and "\n" not in str(exited.value)
