"""One RunSpec per command, carried unchanged (moneypath.cli.where.run_spec): the object the CLI builds is the one
the load test's session, the capacity plan, `up`'s stack and the canary stage are given — the run config's target
reaching them without an option."""

from __future__ import annotations

import pytest

from moneypath import cli
from moneypath.cli import where
from moneypath.loadtest.command.inputs import UsageError
from moneypath.stack.spec import RunSpec
from tests.conftest import CATALOG_PATH

TARGET_ENV = ("MONEYPATH_TARGET_SERVICE", "MONEYPATH_TARGET_PROMETHEUS", "MONEYPATH_TARGET_PROVIDERSIM",
              "MONEYPATH_TARGET_FAULTPROXY", "MONEYPATH_INSTANCES", "MONEYPATH_TOKEN", "MONEYPATH_CONFIG",
              "MONEYPATH_STATE_DIR")


@pytest.fixture
def built(monkeypatch):
    """Every RunSpec the CLI builds, in order."""
    for name in TARGET_ENV:
        monkeypatch.delenv(name, raising=False)
    made: list[RunSpec] = []
    real = where.run_spec

    def recording(*args, **kw):
        made.append(real(*args, **kw))
        return made[-1]

    monkeypatch.setattr(where, "run_spec", recording)
    return made


@pytest.fixture
def opened(monkeypatch):
    """The `where` each opening of a load test's target is given; nothing is started."""
    from moneypath.loadtest.command import targets

    seen: list[tuple[RunSpec, int | None]] = []

    def open_target(c, options, port, locustfile=None, say=print, *, where, instances=None):
        seen.append((where, instances))
        raise UsageError("stop here")

    monkeypatch.setattr(targets, "open_target", open_target)
    monkeypatch.setattr(targets, "close_target", lambda target: None)
    return seen


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "moneypath.run.yaml"
    path.write_text("target:\n  service: http://shop.example:8000\n  prometheus: http://prom.example:9090\n"
                    "  faultproxy: http://proxy.example:7000\nloadtest:\n  no_auth: true\n")
    return path


@pytest.mark.parametrize("command", [["loadtest", "checkout"], ["capacity"]])
def test_the_run_configs_target_reaches_the_session_in_the_one_spec_the_cli_built(
        command, built, opened, config, tmp_path, capsys):
    code = cli.main([*command, "--config", str(config), "--catalog", str(CATALOG_PATH), "--out", str(tmp_path / "out"),
                     "--state-dir", str(tmp_path / "state")])
    assert code == 2 and "stop here" in capsys.readouterr().err
    ((spec,),), ((where_given, instances),) = [built], opened
    assert where_given is spec  # the very object the CLI built, not a copy rebuilt from the options
    assert (spec.target.service, spec.target.prometheus, spec.target.faultproxy) == (
        "http://shop.example:8000", "http://prom.example:9090", "http://proxy.example:7000")
    assert spec.state_dir == tmp_path / "state"
    assert instances == (1 if command == ["capacity"] else None)  # the plan measures one instance


def test_capacitys_postgres_url_is_not_the_stacks_postgres_switch(built, opened, config, tmp_path, monkeypatch):
    """`capacity --postgres URL` keeps its meaning; the stack's shape comes from the environment and the file."""
    from moneypath.loadtest.command.capacity import plan_session

    given = []
    monkeypatch.setattr(plan_session, "prepare", lambda args, where: given.append((args.postgres, where)) or
                        pytest.fail("stop here"))
    with pytest.raises(pytest.fail.Exception):
        cli.main(["capacity", "--config", str(config), "--catalog", str(CATALOG_PATH), "--postgres",
                  "postgresql+psycopg://u@127.0.0.1:1/db"])
    ((url, spec),) = given
    assert url == "postgresql+psycopg://u@127.0.0.1:1/db" and spec is built[0] and spec.stack.postgres is False


def test_up_starts_the_stack_of_the_one_specs_shape_and_time_factor(built, tmp_path, monkeypatch):
    from moneypath.stack import local as stack

    path = tmp_path / "moneypath.run.yaml"
    path.write_text("time_factor: 60\nstack:\n  instances: 2\n  target_wait: 0\n")
    started = []
    monkeypatch.setattr(stack, "up", lambda c, state_dir, spec, **kw: started.append(spec) or pytest.fail("stop"))
    with pytest.raises(pytest.fail.Exception):
        cli.main(["up", "--config", str(path), "--catalog", str(CATALOG_PATH), "--state-dir", str(tmp_path / "s"),
                  "--fast"])
    ((run,),), ((spec,),) = [built], [started]
    assert (run.stack.instances, run.time_factor) == (2, 60.0)
    assert (spec.instances, spec.time_factor, spec.target_wait_s, spec.fast, spec.services) == (2, 60.0, 0.0, True, True)


def test_a_canary_drill_runs_on_the_stage_of_the_one_spec(built, tmp_path, monkeypatch, capsys):
    from moneypath.canary import stage
    from moneypath.formats.drill import LOCAL_TIME_FACTOR
    from tests.conftest import ROOT

    given = []
    monkeypatch.setattr(stage, "run_canary_drill", lambda *a, **kw: given.append(kw) or pytest.fail("stop"))
    with pytest.raises(pytest.fail.Exception):
        cli.main(["drill", "run", str(ROOT / "runbooks" / "drills" / "canary-releases.yaml"), "--catalog",
                  str(ROOT / "moneypath.yaml"), "--state-dir", str(tmp_path / "s"), "--reports", str(tmp_path / "r")])
    ((run,),), ((kw,),) = [built], [given]
    assert kw["shape"] is run.stack and kw["state_dir"] == run.state_dir / "canary" == tmp_path / "s" / "canary"
    shape = stage.stage_shape(kw["shape"])  # the stage's own parts; the drills' one time factor, no second one
    assert (shape.services, shape.ha, shape.instances, shape.fast, shape.time_factor) == (
        False, False, 1, True, LOCAL_TIME_FACTOR)


def test_a_canary_drill_refuses_a_target_from_the_run_config(built, config, tmp_path, capsys):
    from tests.conftest import ROOT

    code = cli.main(["drill", "run", str(ROOT / "runbooks" / "drills" / "canary-releases.yaml"), "--config",
                     str(config), "--catalog", str(ROOT / "moneypath.yaml"), "--state-dir", str(tmp_path / "s")])
    assert code == 2 and "a canary drill starts its own stage" in capsys.readouterr().err
