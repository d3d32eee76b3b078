"""The drill's judgement beyond money: "diagnosed" rests on a page, `if_not_measured` names only what the drill
judges on its catalog, and an expected page that did not come reports what its event floor's window held."""

from __future__ import annotations

import re

import pytest

from moneypath.check.drill_files import load_drill, never_judged
from moneypath.drills.diagnosis import Diagnosis
from moneypath.drills.event_guards import guards, held
from moneypath.formats.drill import DrillError
from tests.conftest import ROOT


def _advance(run):
    run.sleep_ticking = lambda seconds, until=None: setattr(run.now, "t", run.now.t + max(seconds, 0.1))


@pytest.mark.parametrize("first_page, status", [(None, "not measured"), (1000.0, "pass")])
def test_diagnosed_is_not_measured_when_no_page_came(live, first_page, status):
    """Every runbook query returns its evidence; without a page that is no diagnosis (nobody was paged)."""
    _advance(live)
    live.prom.answer = lambda expr: [({"provider": "acme", "currency": "EUR"}, 5.0)]
    live.diagnosis = Diagnosis(live)
    live.diagnosis.steps = []
    for step in live.drill.diagnosis.steps:  # expectations met whatever they ask
        step.expect = [type(step.expect[0]).model_validate({"nonempty": True})]
        step.if_not_measured = "pass"  # its SQL steps: no database here
    live.diagnosis.run(first_page)
    [objective] = [o for o in live.objectives if o.name == "diagnosed"]
    assert objective.status == status, objective.reason
    if first_page is None:
        assert objective.reason.startswith("not measured: no expected page came"), objective.reason
        assert not objective.ok


def _drill_with(tmp_path, text: str, extra: str):
    path = tmp_path / "runbooks" / "drills" / "x.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + extra)
    return path


@pytest.mark.parametrize("extra, key, why", [
    ("if_not_measured: {money_kept: pass}\n", "if_not_measured.money_kept",
     "the catalog has the ledger feature: the money objective is ledger_balanced"),
    ("if_not_measured:\n  detected: fail\n  watchdog: pass\n", "if_not_measured.watchdog",
     "the drill kills no monitoring replica (replica_down)"),
])
def test_if_not_measured_on_what_the_drill_never_judges_is_one_line(catalog, tmp_path, extra, key, why):
    import shutil

    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("drills"))
    shutil.copytree(ROOT / "runbooks" / "drills" / "requests", tmp_path / "runbooks" / "drills" / "requests")
    text = (ROOT / "runbooks" / "drills" / "provider-partial-outage.yaml").read_text()
    path = _drill_with(tmp_path, text, extra)
    with pytest.raises(DrillError) as err:
        load_drill(path, catalog, tmp_path)
    [line] = err.value.problems
    m = re.fullmatch(rf"runbooks/drills/x\.yaml:(\d+): {re.escape(key)}: (.*)", line)
    assert m and why in m[2] and "skips nothing" in m[2], line
    assert key.rsplit(".", 1)[1] + ":" in path.read_text().splitlines()[int(m[1]) - 1]


def test_ledger_balanced_without_the_ledger_is_never_judged(shop_project):
    from moneypath.catalog import load_catalog

    shop = load_catalog(shop_project / "moneypath.yaml")
    drill = load_drill(ROOT / "tests" / "foreign" / "drills" / "knet-partial-outage.yaml", shop, shop_project)
    never = never_judged(drill, shop)
    assert "ledger_balanced" in never and "money_kept" not in never
    assert "captured_once" not in never and "duplicates" not in never  # skippable: the drill judges them


def test_a_page_that_did_not_come_reports_what_its_window_held(catalog):
    drill = load_drill(ROOT / "runbooks" / "drills" / "provider-partial-outage.yaml", catalog, ROOT)
    [expected] = drill.alerts.expected
    [guard] = guards(catalog)[expected.alert]
    asked = []

    def query(expr):
        asked.append(expr)
        return [({"provider": "globex"}, 7.0), ({"provider": "acme"}, 40.0)]

    [line] = held(drill, catalog, 60, [expected], query)
    assert asked == [f"sum by (provider) (increase({guard.series}[5s]))"]
    assert line == (f"{expected.alert} did not page: its guard's 5 s window held 7 events for provider globex at the "
                    "deadline (floor 10)")
    [line] = held(drill, catalog, 60, [expected], lambda expr: [])
    assert "held no events for provider globex (floor 10" in line


def test_the_run_notes_the_window_of_a_page_that_did_not_come_and_detected_says_it(catalog):
    from moneypath.drills.endpoints import Target
    from moneypath.drills.journal import AlertRow
    from moneypath.drills.runner import DrillRun
    from tests.support.drill_fakes import Clock, FakePages, FakeProm

    drill = load_drill(ROOT / "runbooks" / "drills" / "provider-partial-outage.yaml", catalog, ROOT)
    live = DrillRun(drill, catalog, Target(service="http://svc", prometheus="http://127.0.0.1:9",
                                           pager="http://127.0.0.1:9", time_factor=60), say=lambda _: None, clock=Clock())
    live.prom.close(), live.pages_source.close()
    live.prom, live.pages_source = FakeProm(), FakePages()
    live.prom.answer = lambda expr: [({"provider": "globex"}, 3.0)] if "increase(" in expr else []
    live._guard_windows()
    live.close()
    assert live.guard_windows and all("did not page" in line for line in live.guard_windows), live.guard_windows
    [expected] = live.drill.alerts.expected
    row = AlertRow(alert=expected.alert, labels=expected.labels, expectation="expected", deadline_s=30,
                   first_firing_at=None, paged_at=None, resolved_at=None, receivers=[], ok=False, reason="no page")
    live._judge_pages([row], 1000.0)
    detected = next(o for o in live.objectives if o.name == "detected")
    assert detected.status == "fail" and live.guard_windows[0] in detected.reason, detected.reason
