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
    # a mean of 10 in the window pages about half the time: 99 % needs a mean of 18.8 (Poisson), 3.76/s in 5 s
    assert short.offered_per_s == 1.0 and short.needed_per_s == pytest.approx(3.7566, abs=1e-4) and short.window_s == 5
    assert short.group == "provider globex" and short.largest_factor == 15.971
    assert largest_factor(drill, catalog, resolve) == 15.971
    assert shortfalls(drill, catalog, 15.971, resolve) == []
    assert shortfalls(drill, catalog, 16, resolve)


def test_without_labels_on_the_expected_alert_the_guard_is_judged_on_the_faulted_provider(catalog, tmp_path):
    """The expected alert names no provider: the group that must page is the one the fault breaks (globex, the
    smaller share of the mix), not the largest."""
    doc = yaml.safe_load(slow_drill(tmp_path, 4).read_text())
    doc["load"]["providers"] = {"acme": 3, "globex": 1}
    for expected in doc["alerts"]["expected"]:
        expected.pop("labels", None)
    path = tmp_path / "unlabelled.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    known = alert_names(catalog)
    (short,) = shortfalls(load_drill(path, catalog, ROOT), catalog, 60, lambda n: resolve_alert(n, catalog, known))
    assert short.group == "provider globex" and short.offered_per_s == 1.0, short

@pytest.mark.parametrize("events, mean", [(1, 4.605), (10, 18.783), (50, 67.903)])
def test_the_mean_that_reaches_a_floor_with_99_percent_is_poissons(events, mean):
    from scipy.stats import poisson

    from moneypath.drills.event_guards import needed_mean, reach_probability

    found = needed_mean(events)
    assert found == pytest.approx(mean, abs=1e-3)
    assert poisson.sf(events - 1, found) == pytest.approx(0.99, abs=1e-9)
    assert reach_probability(events, found * 0.98) < 0.99 <= reach_probability(events, found * 1.001)
    assert reach_probability(events, events) < 0.65  # a mean exactly at the floor: little better than a coin toss


def test_drill_check_and_run_refuse_it_in_one_line_with_the_largest_factor(tmp_path):
    path = str(slow_drill(tmp_path, 2))
    for command in (("check",), ("run", "--reports", str(tmp_path / "reports"))):
        r = run_cli("drill", *command, path, "--catalog", CATALOG)
        assert r.returncode == 2, r
        (line,) = r.stderr.splitlines()
        number = next(i for i, text in enumerate(open(path).read().splitlines(), 1) if text.strip().startswith("rate:"))
        assert line.startswith(f"{path}:{number}: load.rate: MoneyPathProviderPartialOutage pages only with at least "
                               "10 events in 5 s at --time-factor 60 (provider globex)"), line
        assert "the drill's 1/s reaches that with 3% probability, 99% needs 3.76/s: use --time-factor 15.971" in line
        assert line.endswith("or raise load.rate to 8")
    assert run_cli("drill", "check", path, "--catalog", CATALOG, "--time-factor", "15").returncode == 0


def test_every_shipped_drill_meets_its_guards_at_the_local_factor(shop_project, monkeypatch):
    # their hooks' ${NAME}s: drill check wants them set
    for name in ("SHOP_KOMOJU_URL", "CANARY_URL", "PAYSTACK_ADMIN_URL", "CANARY_PAYSTACK_URL", "CANARY_MOLLIE_URL"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    r = run_cli("drill", "check", *map(str, sorted((ROOT / "runbooks" / "drills").glob("*.yaml"))),
                "--catalog", CATALOG)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    foreign = sorted(str(p) for p in (shop_project / "runbooks" / "drills").glob("*.yaml"))
    r = run_cli("drill", "check", *foreign, "--catalog", str(shop_project / "moneypath.yaml"), cwd=shop_project)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    django = ROOT / "tests" / "foreign" / "djangoshop" / "ops"
    r = run_cli("drill", "check", *map(str, sorted((django / "runbooks" / "drills").glob("*.yaml"))),
                "--catalog", str(django / "moneypath.yaml"), cwd=django)
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("factor, refused", [(99, False), (100, True)])
def test_the_approval_drop_drill_works_up_to_its_largest_factor(catalog, factor, refused):
    drill = load_drill(ROOT / "runbooks" / "drills" / "approval-rate-drop.yaml", catalog, ROOT)
    known = alert_names(catalog)
    assert bool(shortfalls(drill, catalog, factor, lambda n: resolve_alert(n, catalog, known))) is refused
