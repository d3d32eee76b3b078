"""replica_down: a drill that kills a monitoring replica mid-incident (moneypath.drills.replicas).

Refused before anything starts unless the drill runs on the HA stack it starts (--ha); skipped by the demo
with a line; the kill comes from the stack's own stack.json while the fault is on; a repeat of a notification
within the repeat interval is a duplicate; the report says which replica died when, the pages per alert
group, the time to page against the single-stack deadline and the heartbeats. No stack: the stack's kill
and restart are replaced by recorders.
"""

from __future__ import annotations

import shutil
from glob import glob
from types import SimpleNamespace

import pytest
import yaml

from moneypath._common.exit_codes import ExitCode
from moneypath.check.drill_files import load_drill
from moneypath.drills import replicas
from moneypath.drills.endpoints import Target
from moneypath.drills.journal import Objective
from moneypath.drills.report.rendering import render
from moneypath.drills.runner import DrillRun
from moneypath.formats.drill import DrillError, ha_problem, needs_ha
from moneypath.stack.state import Part, StackError, StackState, replica_part, save_state
from tests.conftest import ROOT
from tests.docs_examples import args_of, code_block, shell
from tests.support.drill_fakes import Clock, FakePages, FakeProm
from tests.support.drill_files import unlined
from tests.support.drill_journal import passing_journal

SHIPPED = ROOT / "runbooks" / "drills" / "provider-outage-half-monitoring.yaml"


# ---------------------------------------------------------------- the drill file and who runs it


def test_the_shipped_drill_kills_one_of_each_pair_and_needs_ha(catalog):
    drill = load_drill(SHIPPED, catalog, ROOT)
    assert needs_ha(drill)
    assert [(k.component, k.replica, k.after) for k in drill.replica_down] == [("prometheus", "b", 0.0),
                                                                              ("alertmanager", "a", 0.0)]
    assert ha_problem(drill, ha=True) is None
    line = ha_problem(drill, ha=False)
    assert line == ("runbooks/drills/provider-outage-half-monitoring.yaml: replica_down: kills a replica of the "
                    "monitoring pair, which only the HA stack has: run it on one (MONEYPATH_HA=1 moneypath drill run "
                    "runbooks/drills/provider-outage-half-monitoring.yaml, or stack.ha in moneypath.run.yaml)")
    assert ha_problem(drill, ha=True, own_stack=False) is None  # --target-* on the pair `up --ha` recorded
    assert "with --target-* it kills only a replica of the stack `moneypath up --ha`" in ha_problem(
        drill, ha=False, own_stack=False)
    assert ha_problem(load_drill(ROOT / "runbooks/drills/provider-partial-outage.yaml", catalog, ROOT), False) is None


def test_drill_check_says_it_kills_and_needs_ha(capsys, monkeypatch):
    """docs/drills.md's `drill check` as written (every shipped drill), in the repository."""
    from moneypath.cli import main

    check = args_of(shell(code_block("docs/drills.md", "Drills", "sh"))[1])
    monkeypatch.chdir(ROOT)
    assert check[:2] == ["drill", "check"]
    assert main([a for arg in check for a in (sorted(glob(arg)) if "*" in arg else [arg])]) == 0
    assert "kills prometheus b and alertmanager a mid-incident (run with MONEYPATH_HA=1)" in capsys.readouterr().out


def test_a_kill_needs_a_fault_to_be_mid_incident(catalog, tmp_path):
    doc = yaml.safe_load((ROOT / "runbooks/drills/healthy-baseline-peak.yaml").read_text())
    doc["replica_down"] = [{"component": "prometheus", "replica": "b"}]
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    path = tmp_path / "runbooks" / "drills" / "peak.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(DrillError) as err:
        load_drill(path, catalog, tmp_path)
    assert unlined(err.value.problems, path, "runbooks/drills/peak.yaml") == [
        "runbooks/drills/peak.yaml: replica_down.0: a replica dies mid-incident: the drill needs a fault"]


def _cli(tmp_path, *extra):
    from moneypath.cli import build_parser

    return build_parser().parse_args(["drill", "run", str(SHIPPED), "--catalog", str(ROOT / "moneypath.yaml"),
                                      "--reports", str(tmp_path), *extra])


def test_the_cli_refuses_it_without_ha_before_starting_anything(tmp_path, monkeypatch, capsys):
    from moneypath.cli import drill as drill_cli

    ran = []
    monkeypatch.setattr("moneypath.drills.runner.run_drills", lambda *a, **kw: ran.append(kw) or [])
    assert drill_cli._run(_cli(tmp_path)) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "replica_down: kills a replica of the monitoring pair" in err
    assert "provider-outage-half-monitoring.yaml: " in err and ran == []
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "s" * 32)
    remote = ("--target-service", "http://127.0.0.1:9", "--target-prometheus", "http://127.0.0.1:9",
              "--target-pager", "http://127.0.0.1:9")
    assert drill_cli._run(_cli(tmp_path, *remote, "--state-dir", str(tmp_path))) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "with --target-* it kills only a replica of the stack `moneypath up --ha` recorded in --state-dir" in err
    assert ran == []
    monkeypatch.setattr("moneypath.drills.runner.print_summary", lambda results: None)
    monkeypatch.setenv("MONEYPATH_HA", "1")  # the stack's shape: the environment or moneypath.run.yaml
    drill_cli._run(_cli(tmp_path))
    shape = ran and ran[0]["stacks"].shape
    assert shape and (shape.engine, shape.ha, shape.instances, shape.postgres) == ("prometheus", True, 1, False)


def test_with_targets_it_runs_on_the_ha_stack_up_recorded_whose_prometheus_is_the_target(tmp_path, monkeypatch,
                                                                                          capsys):
    from moneypath.cli import drill as drill_cli

    state = _state(tmp_path)
    save_state(state)
    ran = []
    monkeypatch.setattr("moneypath.drills.runner.run_drills", lambda drills, catalog, reports, target, *a, **kw:
                        ran.append(target) or [])
    monkeypatch.setattr("moneypath.drills.runner.preflight", lambda *a: "ok")
    monkeypatch.setattr("moneypath.drills.runner.print_summary", lambda results: None)
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "s" * 32)

    def run(prometheus):
        return drill_cli._run(_cli(tmp_path, "--target-service", "http://127.0.0.1:9", "--target-prometheus",
                                   prometheus, "--target-pager", "http://127.0.0.1:9", "--target-providersim",
                                   "http://127.0.0.1:9", "--state-dir", str(tmp_path)))

    assert run("http://127.0.0.1:7777") == ExitCode.USAGE and ran == []  # another Prometheus
    assert "there is none" in capsys.readouterr().err
    run("http://127.0.0.1:9092/")  # replica b of the recorded pair
    assert [t.stack_dir for t in ran] == [str(tmp_path)]
    state.ha = False
    save_state(state)
    assert run("http://127.0.0.1:9092") == ExitCode.USAGE and len(ran) == 1  # a single stack


def test_run_drills_fails_it_on_a_single_stack_without_starting_one(catalog, tmp_path, monkeypatch):
    from moneypath.drills import runner

    started = []
    monkeypatch.setattr(runner, "local_stack", lambda *a, **kw: started.append(a))
    said = []
    results = runner.run_drills([load_drill(SHIPPED, catalog, ROOT)], catalog, tmp_path,
                                stacks=runner.LocalStacks(tmp_path), operator=runner.Operator(said.append))
    assert [(r.drill, r.verdict) for r in results] == [("provider-outage-half-monitoring", "fail")]
    assert "run it on one (MONEYPATH_HA=1" in results[0].report and started == []


def test_the_demo_skips_it_with_a_line_and_runs_the_others(catalog, monkeypatch, capsys):
    from moneypath.drills import demo

    given = []
    monkeypatch.setattr(demo, "run_in_lanes", lambda drills, *a, **kw: given.extend(drills) or [])
    monkeypatch.setattr(demo, "print_summary", lambda results: None)
    demo.run_demo(catalog, ROOT / ".moneypath-never-started")
    out = capsys.readouterr().out
    assert ("moneypath demo: skipping provider-outage-half-monitoring: it kills a monitoring replica (replica_down), "
            "which needs the HA stack: MONEYPATH_HA=1 moneypath drill run "
            "runbooks/drills/provider-outage-half-monitoring.yaml"
            in out)
    names = {d.name for d in given}
    assert "provider-outage-half-monitoring" not in names and "provider-partial-outage" in names


def test_a_drill_for_the_ticket_shop_may_kill_a_replica(shop_project):
    from moneypath.catalog import load_catalog

    shop = load_catalog(str(shop_project / "moneypath.yaml"))
    drills = shop_project / "runbooks" / "drills"
    doc = yaml.safe_load((drills / "knet-partial-outage.yaml").read_text())
    doc["replica_down"] = [{"component": "alertmanager", "replica": "b", "after": "3s"}]
    path = drills / "knet-outage-half-monitoring.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        drill = load_drill(path, shop, shop_project)
        assert drill.replica_down[0].component == "alertmanager" and needs_ha(drill)
        assert ha_problem(drill, ha=False).startswith("runbooks/drills/knet-outage-half-monitoring.yaml: replica_down:")
        doc["replica_down"][0]["component"] = "alertmanger"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        with pytest.raises(DrillError) as err:
            load_drill(path, shop, shop_project)
        assert unlined(err.value.problems, path, "runbooks/drills/knet-outage-half-monitoring.yaml") == [
            "runbooks/drills/knet-outage-half-monitoring.yaml: replica_down.0.component: 'alertmanger' does not run "
            "in pairs (one of prometheus, alertmanager); did you mean alertmanager?"]
    finally:
        path.unlink()


# ---------------------------------------------------------------- the runner's kill (the stack replaced)


def _state(tmp_path) -> StackState:
    parts = [Part(name, f"http://127.0.0.1:{port}", pid, "/-/ready", f"{name}.log", ["true"])
             for name, port, pid in (("prometheus", 9091, 101), ("prometheus-b", 9092, 102),
                                     ("alertmanager", 9093, 103), ("alertmanager-b", 9094, 104))]
    return StackState(str(tmp_path), "1s", "1s", [], parts, time_factor=60, ha=True, fast=True)


@pytest.fixture
def ha_run(catalog, tmp_path, monkeypatch):
    """A DrillRun of the shipped drill on a recorded HA stack: kills and restarts are recorded, not done."""
    state = _state(tmp_path)
    monkeypatch.setattr(replicas.stack, "load_state", lambda path: state)
    done = SimpleNamespace(killed=[], restarted=[], fail_restart=set())

    def kill_part(path, name):
        done.killed.append(name)
        return next(p for p in state.parts if p.name == name)

    def restart_part(path, name):
        if name in done.fail_restart:
            raise StackError(f"{name} exited at restart; see {name}.log")
        done.restarted.append(name)

    monkeypatch.setattr(replicas.stack, "kill_part", kill_part)
    monkeypatch.setattr(replicas.stack, "restart_part", restart_part)
    drill = load_drill(SHIPPED, catalog, ROOT)
    drill.replica_down[0].replica = "a"  # the Prometheus the drill reads
    for kill in drill.replica_down:
        kill.after = 2.0
    target = Target(service="http://svc", prometheus="http://127.0.0.1:9091", providersim="http://sim",
                    time_factor=60, stack_dir=str(tmp_path))
    clock = Clock()
    r = DrillRun(drill, catalog, target, say=lambda _: None, clock=clock)
    r.prom.close(), r.pages_source.close()
    r.prom, r.pages_source, r.now, r.done = FakeProm(), FakePages(), clock, done
    r.prom.url, r.pages_source.alertmanager = "http://127.0.0.1:9091", None
    r.faults.active, r.faults.record.injected_at = True, 1000.0
    yield r
    r.close()


def test_each_replica_dies_at_its_time_and_the_drill_reads_the_survivor(ha_run):
    ha_run.now.t = 1001.0
    ha_run.replicas.watch()
    assert ha_run.done.killed == []
    ha_run.now.t = 1002.0
    ha_run.replicas.watch()
    assert ha_run.done.killed == ["prometheus", "alertmanager"]
    assert ha_run.prom.url == "http://127.0.0.1:9092"  # the drill's own reads follow the surviving replica
    texts = [e.text for e in ha_run.timeline]
    assert "KILLED prometheus replica a (prometheus, pid 101) mid-incident" in texts
    assert ha_run.page_deadline(30) == 31  # the single-stack deadline plus one evaluation interval
    ha_run.replicas.watch()
    assert ha_run.done.killed == ["prometheus", "alertmanager"]  # once


def test_a_kill_due_after_the_incident_is_not_done_and_fails_the_drill(ha_run):
    ha_run.faults.active = False  # mitigation cleared the fault before the kill's time
    ha_run.now.t = 1005.0
    ha_run.replicas.watch()
    assert ha_run.done.killed == []
    ha_run.replicas.judge([], ha_run._expected_for)
    kill = next(o for o in ha_run.objectives if o.name == "replica_down")
    assert not kill.ok and "the incident was over (the fault cleared) before the kill at T+2 s" in kill.reason


def _page(t, status="firing", group="{}:{alertname=\"X\"}", fp="f1", provider="globex", alert=None):
    return {"received_at": t, "receiver": "payments-oncall", "status": status, "group_key": group, "fingerprint": fp,
            "alertname": alert, "labels": {"alertname": alert, "severity": "page", "provider": provider}}


def test_a_second_notification_from_the_pair_is_a_duplicate_a_repeat_after_the_interval_is_not(ha_run, catalog):
    alert = catalog.alert_name("ProviderPartialOutage")
    ha_run.now.t = 1002.0
    ha_run.replicas.watch()
    once = [_page(1012.0, alert=alert), _page(1030.0, "resolved", alert=alert),
            _page(1100.0, alert=alert)]  # firing again after the 1 m repeat interval: Alertmanager's repeat
    ha = ha_run.replicas.judge(once, ha_run._expected_for)
    objective = next(o for o in ha_run.objectives if o.name == "paged_once")
    assert objective.ok, objective.reason
    assert objective.reason == f"{alert}{{provider=globex}} → payments-oncall: paged once"
    group = ha.groups[0]
    assert group.expected and group.duplicates == [] and group.paged_s == 12.0
    assert (group.single_stack_s, group.allowed_s) == (30.0, 31.0)

    ha_run.objectives.clear()
    twice = [_page(1012.0, alert=alert), _page(1014.1, alert=alert)]  # the second node, after its peer timeout
    ha = ha_run.replicas.judge(twice, ha_run._expected_for)
    objective = next(o for o in ha_run.objectives if o.name == "paged_once")
    assert not objective.ok and "the same notification again 1 time(s) within the repeat interval" in objective.reason
    assert "Alertmanager's cluster delivers at least once" in objective.reason  # an Alertmanager node was killed
    assert ha.groups[0].duplicates == [1014.1]


def test_the_watchdog_must_show_the_dead_replica_and_the_survivor_beating(ha_run, monkeypatch):
    ha_run.target.pager = "http://pager"
    beats = {"timeout_s": 16.0, "replicas": {"a": {"status": "ok", "age_s": 0.5}, "b": {"status": "ok", "age_s": 0.4}}}
    monkeypatch.setattr(ha_run.replicas, "_watchdog", lambda: beats)
    ha_run.now.t = 1002.0
    ha_run.replicas.watch()
    beats["replicas"]["a"] = {"status": "late", "age_s": 16.5}
    ha_run.now.t = 1020.0
    ha_run.replicas.watch()
    monkeypatch.setattr(ha_run, "sleep_ticking", lambda *a, **kw: None)
    ha_run.replicas.settle()
    assert ha_run.done.restarted == ["prometheus", "alertmanager"]
    ha_run.replicas.judge([], ha_run._expected_for)
    objectives = {o.name: o for o in ha_run.objectives}
    assert objectives["watchdog"].ok, objectives["watchdog"].reason
    assert objectives["watchdog"].reason == ("replica a: killed T+2 s; its last heartbeat T+4 s; the pager showed it "
                                             "late T+20 s (timeout 16 s); replica b: kept beating (through the "
                                             "surviving Alertmanager)")
    assert objectives["restored"].ok and "prometheus restarted and ready" in objectives["restored"].reason

    beats["replicas"]["b"] = {"status": "late", "age_s": 17.0}  # the one not killed stops too: a FAIL
    ha_run.now.t = 1021.0
    ha_run.replicas.watch()
    ha_run.objectives.clear()
    ha_run.replicas.judge([], ha_run._expected_for)
    watchdog = next(o for o in ha_run.objectives if o.name == "watchdog")
    assert not watchdog.ok and "replica b: not killed, but its heartbeat stopped too" in watchdog.reason


def test_a_replica_that_does_not_come_back_is_reported_with_how_to_bring_it_back(ha_run, monkeypatch):
    ha_run.now.t = 1002.0
    ha_run.replicas.watch()
    ha_run.done.fail_restart.add("alertmanager")
    monkeypatch.setattr(ha_run, "sleep_ticking", lambda *a, **kw: None)
    ha_run.replicas.settle()
    ha_run.replicas.judge([], ha_run._expected_for)
    restored = next(o for o in ha_run.objectives if o.name == "restored")
    assert not restored.ok
    assert restored.reason.startswith("alertmanager is DOWN: not restarted: alertmanager exited at restart")
    assert "bring it back: moneypath down --state-dir" in restored.reason


# ---------------------------------------------------------------- the report


def ha_journal(duplicate: bool = False) -> dict:
    j = passing_journal()
    inject = j["fault"]["injected_at"]
    j["objectives"] += [Objective(name="paged_once", ok=not duplicate, reason="...").to_dict()]
    j["ha"] = {
        "evaluation_interval_s": 1.0, "repeat_interval_s": 60.0, "watchdog_timeout_s": 16.0,
        "kills": [{"component": "prometheus", "replica": "b", "part": "prometheus-b", "after_s": 2.0, "pid": 4242,
                   "killed_at": inject + 2, "error": None, "last_beat_at": inject + 5, "late_at": inject + 21,
                   "restarted_at": inject + 40, "beat_again_at": inject + 44, "restore": None},
                  {"component": "alertmanager", "replica": "a", "part": "alertmanager", "after_s": 2.0, "pid": 4243,
                   "killed_at": inject + 2, "error": "not restarted: alertmanager exited at restart", "last_beat_at": None,
                   "late_at": None, "restarted_at": None, "beat_again_at": None,
                   "restore": "moneypath down --state-dir /s, then moneypath up --ha again"}],
        "groups": [{"alert": "MoneyPathProviderPartialOutage", "labels": {"provider": "globex"},
                    "receiver": "payments-oncall", "group": "{}:{alertname=\"MoneyPathProviderPartialOutage\"}",
                    "firing": 2 if duplicate else 1, "duplicates": [inject + 14] if duplicate else [],
                    "expected": True, "paged_s": 12.1, "single_stack_s": 30.0, "allowed_s": 31.0},
                   {"alert": "MoneyPathAuthorizationAvailabilityBudgetBurn", "labels": {"slo": "authorization-availability"},
                    "receiver": "payments-oncall", "group": "g2", "firing": 3, "duplicates": [], "expected": False}],
        "heartbeats": {"a": {"ok": True, "text": "kept beating"},
                       "b": {"ok": True, "text": "killed T+2 s; the pager showed it late T+21 s (timeout 16 s)"}},
    }
    return j


def test_the_report_says_which_replica_died_when_the_pages_and_the_heartbeats(tmp_path):
    md = render(ha_journal(), tmp_path / "r").read_text()
    assert "## Half the monitoring down (replica_down)" in md
    assert "| prometheus b | `prometheus-b` | T+2 s (09:00:32) | T+5 s (09:00:35) | T+21 s (09:00:51) |" in md
    assert "DOWN: not restarted: alertmanager exited at restart; moneypath down --state-dir /s, then moneypath up --ha" \
           in md
    assert ("| `MoneyPathProviderPartialOutage{provider=globex}` | payments-oncall | 1 | ✅ exactly once | "
            "T+12 s; single stack ≤ 30 s, allowed ≤ 31 s | ✅ in time |") in md
    assert ("| `MoneyPathAuthorizationAvailabilityBudgetBurn{slo=authorization-availability}` | payments-oncall | 3 | "
            "✅ once per change, no duplicate | not expected (not timed) | — |") in md  # the group changed: no repeat
    assert "| replica b | killed T+2 s; the pager showed it late T+21 s (timeout 16 s) |" in md
    assert "paged once per alert group (no duplicate from the pair)" in md
    assert "one evaluation interval (1 s)" in md
    html = (tmp_path / "r" / "index.html").read_text()
    assert "Half the monitoring down" in html and "exactly once" in html


def test_the_report_calls_a_duplicate_from_the_pair_a_fail(tmp_path):
    md = render(ha_journal(duplicate=True), tmp_path / "r").read_text()
    assert "1 DUPLICATE(S) from the pair" in md
    assert "paged once per alert group (no duplicate from the pair) | ❌ **fail**" in md


def test_a_journal_without_replica_down_has_no_such_section(tmp_path):
    md = render(passing_journal(), tmp_path / "r").read_text()
    assert "Half the monitoring down" not in md


def test_the_stack_names_each_replica_and_restarts_only_the_monitoring_pairs(tmp_path):
    from moneypath.stack import local as stack

    assert [replica_part(c, r) for c in ("prometheus", "alertmanager") for r in ("a", "b")] == [
        "prometheus", "prometheus-b", "alertmanager", "alertmanager-b"]
    with pytest.raises(StackError, match="no replica 'c' of 'prometheus'"):
        replica_part("prometheus", "c")
    state = _state(tmp_path)
    state.parts.append(Part("refservice", "http://127.0.0.1:9095", 2 ** 22 + 7, "/healthz", "r.log", ["true"]))
    save_state(state)
    with pytest.raises(StackError, match="refservice cannot be restarted alone"):
        stack.restart_part(tmp_path, "refservice")
    with pytest.raises(StackError, match="no part 'grafana'"):
        stack.kill_part(tmp_path, "grafana")
