"""A setting is declared once (moneypath.formats.run_config.KEYS: key, environment variable, flag, default) and
every command that declares its flag (moneypath.cli.where.option) reads it the same way: the flag, else the
environment, else the run config, else the key's default."""

from __future__ import annotations

import argparse

import pytest
import yaml

from moneypath.cli import build_parser, where
from moneypath.formats import run_config

# a value of each kind as the run config holds it, the environment spells it and the command line gives it
FILE = {"url": "http://127.0.0.1:1", "float": 7.0, "int": 3, "bool": True, "str": "from-file", "list": ["a"]}
ENV = {"url": "http://127.0.0.1:2", "float": "8", "int": "4", "bool": "0", "str": "from-env", "list": "b,c"}
ENV_READ = {"url": "http://127.0.0.1:2", "float": 8.0, "int": 4, "bool": False, "str": "from-env", "list": ["b", "c"]}
FLAG = {"url": "http://127.0.0.1:3", "float": 9.0, "int": 5, "bool": True, "str": "from-flag", "list": ["d"]}


def declared() -> list[tuple[str, argparse.ArgumentParser, str, str]]:
    """(command, its parser, key, dest) of every option declared from a run config key."""
    found = []

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}".strip())
        for key, dest in parser.get_default("declared_settings") or ():
            found.append((path, parser, key, dest))

    walk(build_parser(), "")
    return found


DECLARED = declared()


def test_the_commands_that_reach_a_stack_declare_their_settings_from_the_keys():
    pairs = {(command, key) for command, _, key, _ in DECLARED}
    assert {("drill run", "target.service"), ("drill run", "time_factor"), ("up", "stack.ha"),
            ("up", "stack.target_wait"), ("capacity", "capacity.postgres"),
            ("history checkpoint", "history.signing_key")} <= pairs
    for command, _, key, _ in DECLARED:  # each flag is the key's, declared nowhere else
        assert run_config.BY_NAME[key].flag, (command, key)


def _args(parser, dest: str, config) -> argparse.Namespace:
    values = {a.dest: a.default for a in parser._actions if a.dest != "help"}
    return argparse.Namespace(**values, **parser._defaults, config=str(config))


@pytest.mark.parametrize(("command", "parser", "key", "dest"), DECLARED, ids=[f"{c}:{k}" for c, _, k, _ in DECLARED])
def test_flag_beats_environment_beats_file_beats_default(command, parser, key, dest, tmp_path, monkeypatch):
    spec = run_config.BY_NAME[key]
    for other in run_config.KEYS:
        if other.env:
            monkeypatch.delenv(other.env, raising=False)
    head, _, leaf = key.rpartition(".")
    config = tmp_path / "moneypath.run.yaml"
    config.write_text(yaml.safe_dump({head: {leaf: FILE[spec.kind]}} if head else {leaf: FILE[spec.kind]}))
    empty = tmp_path / "empty.yaml"
    empty.write_text("")

    args = _args(parser, dest, empty)
    where.resolve(args)
    assert getattr(args, dest) == spec.default, "nothing given: the key's default"
    args = _args(parser, dest, config)
    where.resolve(args)
    assert getattr(args, dest) == FILE[spec.kind], "the run config"
    if spec.env:
        monkeypatch.setenv(spec.env, ENV[spec.kind])
        args = _args(parser, dest, config)
        where.resolve(args)
        assert getattr(args, dest) == ENV_READ[spec.kind], "the environment beats the file"
    args = _args(parser, dest, config)
    setattr(args, dest, FLAG[spec.kind])
    where.resolve(args)
    assert getattr(args, dest) == FLAG[spec.kind] == where.value(args, key), "the flag beats both"


def test_a_key_a_command_does_not_declare_comes_from_the_environment_and_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("MONEYPATH_INSTANCES", raising=False)
    config = tmp_path / "moneypath.run.yaml"
    config.write_text("stack:\n  instances: 3\ncapacity:\n  postgres: postgresql+psycopg://u@127.0.0.1/db\n")
    args = build_parser().parse_args(["capacity", "--config", str(config)])
    where.resolve(args)
    # capacity's --postgres is capacity.postgres (a database URL), never the stack's shape (stack.postgres)
    assert args.postgres == "postgresql+psycopg://u@127.0.0.1/db" and where.value(args, "stack.postgres") is False
    assert where.value(args, "stack.instances") == 3
    monkeypatch.setenv("MONEYPATH_INSTANCES", "2")  # read once per command: the next one sees it
    assert where.value(build_parser().parse_args(["capacity", "--config", str(config)]), "stack.instances") == 2


def test_a_default_list_is_never_shared_between_commands(tmp_path):
    config = tmp_path / "moneypath.run.yaml"
    config.write_text("")
    first = where.value(build_parser().parse_args(["up", "--config", str(config)]), "stack.remote_write")
    first.append("http://127.0.0.1:9")
    assert where.value(build_parser().parse_args(["up", "--config", str(config)]), "stack.remote_write") == []


def test_the_configuration_page_names_each_keys_flag():
    from tests.conftest import ROOT

    rows = {line.split("|")[1].strip(" `"): line.split("|")[3].strip(" `")
            for line in (ROOT / "docs" / "configuration.md").read_text().splitlines() if line.startswith("| `")}
    for key in run_config.KEYS:
        assert rows[key.name] == (key.flag or ("--prometheus" if key.name == "target.prometheus" else "")), key.name
