"""Where things run (moneypath.cli.where, moneypath.formats.run_config): one spec from the command line, the
environment and moneypath.run.yaml, in that order; a bad run config is one line with file, line and key (exit 2);
the option counts the issue bounds (docs/decisions/0019-run-config-file.md)."""

from __future__ import annotations

import argparse

import pytest

from moneypath.cli import build_parser, where
from tests.conftest import ROOT, run_cli

DRILL = str(ROOT / "runbooks" / "drills" / "duplicate-charge.yaml")


def _options(parser: argparse.ArgumentParser, path: str, out: dict) -> None:
    n = 0
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                _options(sub, f"{path} {name}".strip(), out)
        elif action.option_strings and not isinstance(action, argparse._HelpAction):
            n += 1
    out[path] = n


def test_drill_run_has_at_most_15_options_and_all_commands_188():
    counts: dict[str, int] = {}
    _options(build_parser(), "", counts)
    assert counts["drill run"] <= 15, counts["drill run"]
    # 179: `map` --out and --title, `init --money-path` (issue 71); 187: --bind and --wait-workers on loadtest and
    # capacity, `loadtest-worker` --master, --locustfile, --scenario-file, --wait-master (issue 72); 188: `map --json`
    # (issue 79)
    assert sum(counts.values()) <= 188, sorted(
        counts.items(), key=lambda kv: -kv[1])[:6]


def _spec(tmp_path, monkeypatch, text: str | None, *extra: str, env: dict | None = None):
    for name in ("MONEYPATH_TARGET_SERVICE", "MONEYPATH_TIME_FACTOR", "MONEYPATH_CONFIG", "MONEYPATH_HA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "moneypath.run.yaml"
    if text is not None:
        config.write_text(text)
    args = build_parser().parse_args(["drill", "run", DRILL, "--config", str(config), *extra] if text is not None
                                     else ["drill", "run", DRILL, *extra])
    return where.run_spec(args)


def test_the_command_line_beats_the_environment_which_beats_the_file(tmp_path, monkeypatch):
    text = "time_factor: 30\ntarget:\n  service: http://file:1\n  prometheus: http://file:2\nstack:\n  ha: true\n"
    spec = _spec(tmp_path, monkeypatch, text)
    assert (spec.target.service, spec.target.prometheus, spec.time_factor, spec.stack.ha) == \
        ("http://file:1", "http://file:2", 30.0, True)
    spec = _spec(tmp_path, monkeypatch, text, env={"MONEYPATH_TARGET_SERVICE": "http://env:1",
                                                   "MONEYPATH_TIME_FACTOR": "10", "MONEYPATH_HA": "0"})
    assert (spec.target.service, spec.time_factor, spec.stack.ha) == ("http://env:1", 10.0, False)
    spec = _spec(tmp_path, monkeypatch, text, "--target-service", "http://cli:1", "--time-factor", "2",
                 env={"MONEYPATH_TARGET_SERVICE": "http://env:1"})
    assert (spec.target.service, spec.target.prometheus, spec.time_factor) == ("http://cli:1", "http://file:2", 2.0)


def test_without_anything_the_spec_is_a_stack_of_its_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = _spec(tmp_path, monkeypatch, None)
    assert not spec.target.given and spec.time_factor == 1.0 and spec.stack.engine == "prometheus"


@pytest.mark.parametrize("text, where_, problem", [
    ("target:\n  service: http://s:1\n  pagr: http://p:1\n", ":3: target.pagr: unknown key", "known: target."),
    ("time_factor: fast\n", ":1: time_factor: 'fast' is not a number", ""),
    ("stack:\n  ha: maybe\n", ":2: stack.ha: 'maybe' is not true or false", ""),
    ("target:\n  service: ftp://x\n", ":2: target.service: 'ftp://x' is not an http(s):// URL", ""),
    ("nope: 1\n", ":1: nope: unknown key", "known: "),
    ("target:\n  promethus: http://p:1\n", ":2: target.promethus: unknown key", "did you mean target.prometheus?"),
])
def test_a_bad_run_config_is_one_line_with_file_line_and_key_and_exit_2(tmp_path, text, where_, problem):
    config = tmp_path / "moneypath.run.yaml"
    config.write_text(text)
    result = run_cli("drill", "run", DRILL, "--config", str(config))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert f"{config}{where_}" in result.stderr and problem in result.stderr


def test_top_options_may_follow_the_command():
    given_after = build_parser().parse_args(["lint", "--catalog", "x.yaml", "--state-dir=s"])
    given_before = build_parser().parse_args(["--catalog", "x.yaml", "--state-dir", "s", "lint"])
    assert (given_after.catalog, given_after.state_dir) == (given_before.catalog, given_before.state_dir) == \
        ("x.yaml", "s")


def test_every_key_is_documented():
    from moneypath.formats.run_config import KEYS

    page = (ROOT / "docs" / "configuration.md").read_text()
    assert [k.name for k in KEYS if f"`{k.name}`" not in page] == []


def test_a_value_the_export_refuses_names_the_run_configs_line(tmp_path):
    config = tmp_path / "moneypath.run.yaml"
    config.write_text("gameday:\n  environment: staging\n  schedule: 0 25 * * *\n")
    result = run_cli("export", "kube", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert f"{config}:3: gameday.schedule: " in result.stderr and "'25' is not a hour" in result.stderr


def test_a_load_test_reads_its_target_and_knobs_from_the_run_config(tmp_path, monkeypatch):
    from moneypath.cli import loadtest

    for name in ("MONEYPATH_TARGET_SERVICE", "MONEYPATH_TARGET_PROMETHEUS", "MONEYPATH_INSTANCES", "MONEYPATH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "moneypath.run.yaml"
    config.write_text("target:\n  service: http://shop.example:8000\n  prometheus: http://prom.example:9090\n"
                      "loadtest:\n  p99_tolerance: 30\n  no_auth: true\ncapacity:\n  service_pids: [41, 42]\n")
    args = build_parser().parse_args(["loadtest", "checkout", "--config", str(config)])
    assert loadtest._where(args) is None
    assert (args.host, args.prometheus, args.p99_tolerance, args.rps_tolerance, args.no_auth, args.instances) == \
        ("http://shop.example:8000", "http://prom.example:9090", 0.3, 0.1, True, 1)
    args = build_parser().parse_args(["capacity", "--config", str(config), "--host", "http://other.example:1"])
    assert loadtest._where(args) is None
    assert (args.host, args.service_pid, args.postgres_workers) == ("http://other.example:1", [41, 42], 2)
