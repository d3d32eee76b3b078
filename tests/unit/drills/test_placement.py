"""moneypath.drills.placement: where a drill run drills (its own stack or the --target-* environment, tokens minted
or read) and why a drill cannot run there, one line, before anything starts. No process, no network."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from moneypath._common.exit_codes import ExitCode
from moneypath.check.drill_files import load_drill
from moneypath.drills.placement import NotReady, cannot_run, placement, target_from
from moneypath.protocol.tokens import verify
from moneypath.stack.state import StackError
from tests.conftest import ROOT
from tests.unit.drills.helpers import run_args

DRILL = ROOT / "runbooks" / "drills" / "duplicate-charge.yaml"  # a simulator fault, requests with auth: minted


def options(**given):
    """The run spec (moneypath.stack.spec.RunSpec) the command line, environment and run config would give."""
    from moneypath.stack.spec import RunSpec, StackSpec, TargetSpec

    base = {f"target_{n}": None for n in ("service", "prometheus", "faultproxy", "providersim", "alertmanager",
                                          "pager")}
    base.update(target_instance=[], db_url=None, time_factor=1.0, engine="prometheus", ha=False, instances=1,
                postgres=False, state_dir=".moneypath", probe_headroom=False)
    o = SimpleNamespace(**{**base, **given})
    target = TargetSpec(service=o.target_service, prometheus=o.target_prometheus, faultproxy=o.target_faultproxy,
                        providersim=o.target_providersim, alertmanager=o.target_alertmanager, pager=o.target_pager,
                        instances=tuple(o.target_instance), db_url=o.db_url, probe_headroom=o.probe_headroom)
    return RunSpec(target=target, stack=StackSpec(engine=o.engine, ha=o.ha, instances=o.instances,
                                                  postgres=o.postgres, services=True),
                   time_factor=o.time_factor, state_dir=Path(o.state_dir))


REMOTE = {"target_service": "http://s", "target_prometheus": "http://p", "target_pager": "http://pages"}


@pytest.fixture(scope="module")
def drill(catalog):
    return load_drill(DRILL, catalog, ROOT)


def test_without_targets_each_drill_starts_its_own_stack(drill):
    assert target_from(options(), env={}) is None
    assert placement([drill], options(ha=True, instances=3, postgres=True), env={}) is None


@pytest.mark.parametrize("given, message", [
    ({"target_service": "http://s"}, "with --target-* give at least --target-prometheus"),
    ({"db_url": "sqlite:///x.db"}, "with --target-* give at least --target-service and --target-prometheus"),
    ({"target_service": "http://s", "target_prometheus": "http://p"}, "give --target-pager or --target-alertmanager"),
    ({**REMOTE, "time_factor": 0}, "--time-factor must be positive"),
])
def test_a_target_missing_what_a_drill_needs_is_one_line(given, message):
    with pytest.raises(NotReady, match=re.escape(message)) as exc:
        target_from(options(**given), env={})
    assert "\n" not in str(exc.value)


def test_tokens_are_minted_from_the_secret_else_read_from_the_environment():
    secret = "s" * 32
    target = target_from(options(**REMOTE, target_instance=["http://s2"], time_factor=60),
                         env={"MONEYPATH_TOKEN_SECRET": secret})
    assert target.services == ["http://s", "http://s2"] and target.time_factor == 60 and not target.started_stack
    assert verify(secret.encode(), target.payments_token, "payments:write", max_lifetime_s=3600).sub == "drill_merchant"
    assert verify(secret.encode(), target.admin_token, "admin:faults", max_lifetime_s=3600).sub == "drill_operator"
    target = target_from(options(**REMOTE), env={"MONEYPATH_DRILL_TOKEN": "t", "MONEYPATH_DRILL_ADMIN_TOKEN": "a"})
    assert (target.payments_token, target.admin_token) == ("t", "a")


def test_a_drill_that_cannot_run_against_the_target_says_why(drill):
    bare = target_from(options(**REMOTE), env={})
    assert "load.requests.auth is minted: set MONEYPATH_TOKEN_SECRET" in cannot_run(drill, bare, env={})
    with_token = target_from(options(**REMOTE), env={"MONEYPATH_DRILL_TOKEN": "t"})
    assert cannot_run(drill, with_token, env={}) == (
        f"{drill.path}: fault {drill.fault.name} goes through the providersim: give --target-providersim")
    sim = target_from(options(**REMOTE, target_providersim="http://sim"), env={"MONEYPATH_DRILL_TOKEN": "t"})
    assert "needs an admin:faults token" in cannot_run(drill, sim, env={})
    ready = target_from(options(**REMOTE, target_providersim="http://sim"),
                        env={"MONEYPATH_DRILL_TOKEN": "t", "MONEYPATH_DRILL_ADMIN_TOKEN": "a"})
    assert cannot_run(drill, ready, env={}) is None


@pytest.mark.parametrize("given, message", [
    ({**REMOTE, "ha": True}, "engine, ha, instances and postgres (the run config's stack: section"),
    ({"target_instance": ["http://s2"]}, "target.instances ($MONEYPATH_TARGET_INSTANCES) goes with --target-service"),
    ({"instances": 17}, "--instances 17 must be between 1 and 16"),
])
def test_options_that_do_not_go_together_are_refused_before_anything_starts(drill, given, message):
    with pytest.raises((NotReady, StackError), match=re.escape(message)):  # the spec's own check: StackError
        placement([drill], options(**given), env={})


def test_a_remote_target_without_a_page_source_is_refused(tmp_path, monkeypatch, capsys):
    from moneypath.cli import drill as drill_cli
    from moneypath.cli import where
    from moneypath.drills.placement import target_from

    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "s" * 32)
    ran = []
    monkeypatch.setattr("moneypath.drills.runner.run_drills", lambda *a, **kw: ran.append(a) or [])
    args = run_args(tmp_path, "--target-service", "http://127.0.0.1:9", "--target-prometheus", "http://127.0.0.1:9",
                     "--target-providersim", "http://127.0.0.1:9")
    assert drill_cli._run(args) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--target-pager or --target-alertmanager" in err
    assert ran == []  # nothing was drilled
    for source in ("--target-pager", "--target-alertmanager"):
        target = target_from(where.run_spec(run_args(tmp_path, "--target-service", "http://s", "--target-prometheus", "http://p",
                                       source, "http://pages")))
        assert (target.pager or target.alertmanager) == "http://pages"


def test_a_fault_through_the_proxy_needs_a_target_and_each_missing_need_is_one_line(tmp_path, monkeypatch, capsys):
    import shutil

    import yaml

    from moneypath.cli import build_parser
    from moneypath.cli import drill as drill_cli

    ran = []
    monkeypatch.setattr("moneypath.drills.runner.run_drills", lambda *a, **kw: ran.append(a) or [])
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")  # the pages and the request template it names
    shutil.copy(ROOT / "moneypath.yaml", tmp_path / "moneypath.yaml")
    doc = yaml.safe_load((ROOT / "runbooks/drills/provider-partial-outage.yaml").read_text())
    doc["fault"]["where"] = "faultproxy"
    path = tmp_path / "runbooks" / "drills" / "proxy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))

    def run(*extra):
        args = build_parser().parse_args(["drill", "run", str(path), "--catalog", str(tmp_path / "moneypath.yaml"),
                                          "--reports", str(tmp_path / "reports"), *extra])
        return drill_cli._run(args), capsys.readouterr().err

    code, err = run()  # the local stack runs no fault proxy
    assert code == ExitCode.USAGE and err.count("\n") == 1
    assert "its fault goes through the faultproxy, which the local stack" in err
    monkeypatch.delenv("MONEYPATH_TOKEN_SECRET", raising=False)
    monkeypatch.delenv("MONEYPATH_DRILL_TOKEN", raising=False)
    remote = ("--target-service", "http://127.0.0.1:9", "--target-prometheus", "http://127.0.0.1:9",
              "--target-pager", "http://127.0.0.1:9")
    code, err = run(*remote)
    assert code == ExitCode.USAGE and "load.requests.auth is minted: set MONEYPATH_TOKEN_SECRET" in err
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "s" * 32)
    code, err = run(*remote)
    assert code == ExitCode.USAGE and err.count("\n") == 1
    assert "fault error_rate goes through the faultproxy: give --target-faultproxy" in err
    assert ran == []
