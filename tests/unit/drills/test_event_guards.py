"""Compression is honest (moneypath.drills.event_guards, `moneypath drill check | run`): an expected alert's
minimum-event guard, compressed by the time factor, is compared with what the drill's load brings to the group
the alert watches; a drill that cannot page is refused in one line with the largest factor that works, and
every shipped drill still runs at its factor."""

from __future__ import annotations

import pytest
import yaml

from moneypath.check.drill_files import alert_names, load_drill, resolve_alert
from moneypath.drills.event_guards import guards, largest_factor, shortfalls
from tests.conftest import ROOT, run_cli

CATALOG = str(ROOT / "moneypath.yaml")
OUTAGE = ROOT / "runbooks" / "drills" / "provider-partial-outage.yaml"


def slow_drill(tmp_path, rate: float):
    """The provider-outage drill at `rate` payments/s: half of them to globex."""
    doc = yaml.safe_load(OUTAGE.read_text())
    doc["load"]["rate"] = rate
    doc["load"]["requests"] = str(OUTAGE.parent / "requests" / "reference.yaml")
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_the_guards_are_read_from_the_generated_rules(catalog):
    found = guards(catalog)
    outage = found[f"{catalog.alert_prefix}ProviderPartialOutage"]
    assert [(g.window_s, g.events, g.by) for g in outage] == [(300, 10, ("provider",))]
    approval = found[f"{catalog.alert_prefix}ApprovalRateDrop"]
    assert [(g.window_s, g.events, g.by) for g in approval] == [(1800, 50, ("provider", "method"))]
    burn = found[f"{catalog.alert_prefix}AuthorizationAvailabilityBudgetBurn"]
    assert sorted(g.window_s for g in burn) == [3600, 6 * 3600, 86400, 3 * 86400] and {g.events for g in burn} == {100}


def test_one_call_a_second_cannot_meet_the_outage_guard_at_60x(catalog, tmp_path):
    drill = load_drill(slow_drill(tmp_path, 2), catalog, ROOT)
    known = alert_names(catalog)
    resolve = lambda name: resolve_alert(name, catalog, known)  # noqa: E731
    (short,) = shortfalls(drill, catalog, 60, resolve)
    assert short.offered_per_s == 1.0 and short.needed_per_s == 2.0 and short.window_s == 5
    assert short.group == "provider globex" and short.largest_factor == 30
    assert largest_factor(drill, catalog, resolve) == 30
    assert shortfalls(drill, catalog, 30, resolve) == []


def test_drill_check_and_run_refuse_it_in_one_line_with_the_largest_factor(tmp_path):
    path = str(slow_drill(tmp_path, 2))
    for command in (("check",), ("run", "--reports", str(tmp_path / "reports"))):
        r = run_cli("drill", *command, path, "--catalog", CATALOG)
        assert r.returncode == 2, r
        (line,) = r.stderr.splitlines()
        assert "ProviderPartialOutage pages only with at least 10 events in 5 s at --time-factor 60" in line
        assert "(2/s for provider globex); the drill's load brings 1/s: use --time-factor 30 or less" in line
        assert line.endswith("or raise load.rate to 4")
    assert run_cli("drill", "check", path, "--catalog", CATALOG, "--time-factor", "30").returncode == 0


def test_every_shipped_drill_meets_its_guards_at_the_local_factor(shop_project, monkeypatch):
    for name in ("SHOP_KOMOJU_URL", "CANARY_URL"):  # their hooks' ${NAME}s: drill check wants them set
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    r = run_cli("drill", "check", *map(str, sorted((ROOT / "runbooks" / "drills").glob("*.yaml"))),
                "--catalog", CATALOG)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    foreign = sorted(str(p) for p in (shop_project / "runbooks" / "drills").glob("*.yaml"))
    r = run_cli("drill", "check", *foreign, "--catalog", str(shop_project / "moneypath.yaml"), cwd=shop_project)
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("factor, refused", [(135, False), (136, True)])
def test_the_approval_drop_drill_works_up_to_its_largest_factor(catalog, factor, refused):
    drill = load_drill(ROOT / "runbooks" / "drills" / "approval-rate-drop.yaml", catalog, ROOT)
    known = alert_names(catalog)
    assert bool(shortfalls(drill, catalog, factor, lambda n: resolve_alert(n, catalog, known))) is refused
