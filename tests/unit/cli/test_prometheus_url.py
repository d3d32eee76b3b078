"""--prometheus is one option of the top parser, checked once: a value that is no http(s) URL is bad usage (one
line, exit 2, nothing done) for every command that reads a Prometheus, from the command line or the run config."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, run_cli

COMMANDS = [("lint",), ("snapshot",), ("alerts", "backtest"), ("loadtest", "checkout"),
            ("drill", "run", str(ROOT / "runbooks" / "drills" / "duplicate-charge.yaml")), ("map",)]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("url", ["nope", "127.0.0.1:9090", "ftp://127.0.0.1:9090", "http://"])
def test_a_prometheus_that_is_not_an_http_url_is_bad_usage_for_every_command(command, url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli(*command, "--prometheus", url, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr == f"moneypath {command[0]}: --prometheus: {url!r} is not an http(s):// URL\n"
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_the_run_configs_prometheus_is_checked_as_the_flag_is(tmp_path):
    (tmp_path / "moneypath.run.yaml").write_text("target:\n  prometheus: prometheus:9090\n")
    result = run_cli("alerts", "backtest", "--catalog", str(ROOT / "moneypath.yaml"), cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert "target.prometheus" in result.stderr and "is not an http(s):// URL" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_a_url_keeps_its_value_without_the_trailing_slash():
    from moneypath import cli

    args = cli.build_parser().parse_args(["lint", "--prometheus", "http://127.0.0.1:9/"])
    assert cli._bad_prometheus(args) is None and args.prometheus == "http://127.0.0.1:9"
