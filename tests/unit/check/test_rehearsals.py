"""Readiness judged from the drill history's records (moneypath.check.rehearsals): ready, lapsed, never rehearsed
(not measured, listed first), the time-to-page trend, where each deadline comes from; on the shipped catalog and
on the ticket shop's (tests/foreign: another prefix, other alerts)."""

from __future__ import annotations

import pytest

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS
from moneypath.catalog import CatalogError, parse_catalog
from moneypath.check.rehearsals import paging_alerts, readiness, trend
from tests.conftest import CATALOG_PATH, FOREIGN_PATH, ROOT
from tests.support import drill_history as h

NOW = 1_790_000_000.0


def without_readiness(path) -> str:
    """The catalog's text without its own `readiness:` section (up to the blank line after it)."""
    out, skipping = [], False
    for line in path.read_text().splitlines(keepends=True):
        skipping = line.startswith("readiness:") or (skipping and line.strip() != "")
        if not skipping:
            out.append(line)
    return "".join(out)


def with_readiness(path, section: str = "readiness: {policy_days: 90}\n"):
    return parse_catalog(without_readiness(path) + "\n" + section, str(path.relative_to(ROOT)))


@pytest.fixture(scope="module")
def shipped():
    return with_readiness(CATALOG_PATH)


def _by_alert(items):
    return {a.alert: a for a in items}


def test_a_quarter_of_history_reads_ready_lapsed_creeping_and_never_rehearsed(shipped):
    names = paging_alerts(shipped)
    ready, lapsing, creeping = names["LedgerWriteFailures"], names["DuplicateChargeDetected"], names["FraudSpike"]
    records = h.quarter(NOW, ready, lapsing, creeping, lapse_in_s=3600)
    items = readiness(shipped, records, ROOT, NOW)
    got = _by_alert(items)
    assert got[ready].status == PASS and got[ready].trend == PASS
    assert got[creeping].status == PASS and got[creeping].trend == FAIL
    assert "more than 50% over" in got[creeping].trend_why
    # it failed 3 days ago, after its pass: not ready at once, whatever the policy says of the pass
    assert got[lapsing].status == FAIL and got[lapsing].why.startswith("not ready: the latest run of lapsing (")
    assert got[lapsing].why.endswith("failed after an earlier pass: run it again once fixed")
    assert got[lapsing].runs[0].time_to_page_s == 700  # the failed run paged nothing: no time to page
    passed_only = [r for r in records if not (r["drill"] == "lapsing" and r["verdict"] == "fail")]
    assert _by_alert(readiness(shipped, passed_only, ROOT, NOW))[lapsing].status == PASS  # 90 days less an hour
    later = _by_alert(readiness(shipped, passed_only, ROOT, NOW + 2 * 3600))
    assert later[lapsing].status == FAIL and "lapsed: last pass 90 days ago" in later[lapsing].why
    never = [a for a in items if a.alert not in (ready, lapsing, creeping)]
    assert never and all(a.status == NOT_MEASURED and "never rehearsed" in a.why for a in never)
    assert [a.status for a in items] == sorted((a.status for a in items), key=[NOT_MEASURED, FAIL, PASS].index)
    # times in real time, newest first; roles of the newest record, late answers said
    assert [r.time_to_page_s for r in got[ready].runs[:3]] == [612, 611, 610]
    assert got[ready].runs[0].time_to_recover_s == 1800
    assert {(r["role"], r["who"], r["late"]) for r in got[ready].roles} == {("incident_commander", "ana", False),
                                                                            ("compliance", "li", True)}


def test_rehearsed_but_never_passed_is_lapsed_not_ready(shipped):
    name = paging_alerts(shipped)["FraudSpike"]
    records = [h.run("fraud", NOW - 86400, [h.alert(name, 500)], verdict="fail")]
    item = _by_alert(readiness(shipped, records, ROOT, NOW))[name]
    assert item.status == FAIL and item.why == "lapsed: rehearsed 1 time(s), never passed"
    assert item.last_pass is None


@pytest.mark.parametrize("times, deadline, expected", [
    ([600, 610, 620], 1800, PASS),                        # within the deadline
    ([2000, 1900, 100], 1800, FAIL),                      # median 1900 over 1800
    ([1000, 900, 950, 600, 610, 620], None, FAIL),        # 950 > 1.5 x 610
    ([900, 900, 900, 600, 610, 620], None, PASS),         # 900 <= 1.5 x 610 = 915
    ([600, 610], 1800, NOT_MEASURED),                     # two runs: no median of three
    ([600, 610, 620], None, NOT_MEASURED),                # no deadline and nothing before to compare
])
def test_the_trend_rule(times, deadline, expected):
    status, why = trend(times, deadline, 3, 0.5)
    assert status == expected, why
    assert (status == NOT_MEASURED) == why.startswith("not measured")


def test_deadline_from_the_catalog_then_the_drills_then_the_section():
    c = with_readiness(CATALOG_PATH, "readiness:\n  page_deadline: 45m\n  alerts:\n    FraudSpike: {page_deadline: 10m}\n")
    got = {a.key: a for a in readiness(c, [], ROOT, NOW)}
    assert got["FraudSpike"].deadline_s == 600 and got["FraudSpike"].deadline_from.startswith("readiness.alerts")
    # runbooks/drills/ledger-write-failures.yaml: page_within 30s on the 60x drill stack: 30 min of real time
    assert got["LedgerWriteFailures"].deadline_s == 1800
    assert got["LedgerWriteFailures"].drill_files == ["runbooks/drills/ledger-write-failures.yaml"]
    assert got["AuthorizationsSilent"].deadline_s == 2700 and got["AuthorizationsSilent"].deadline_from == \
        "readiness.page_deadline"
    assert got["LedgerImbalance"].runbook == "runbooks/moneypathledgerimbalance.md"


def test_policy_days_per_alert_and_by_default():
    c = with_readiness(CATALOG_PATH, "readiness:\n  alerts:\n    LedgerImbalance: {policy_days: 30}\n")
    name = c.alert_name("LedgerImbalance")
    records = [h.run("imbalance", NOW - 40 * 86400, [h.alert(name, 300)])]
    got = _by_alert(readiness(c, records, ROOT, NOW))
    assert got[name].status == FAIL and got[name].policy_s == 30 * 86400
    assert c.readiness.policy_seconds("FraudSpike") == 90 * 86400


@pytest.mark.parametrize("section, message", [
    ("readiness:\n  policy_days: 400\n", "readiness.policy_days: Input should be less than or equal to 365"),
    ("readiness:\n  page_deadline: soon\n", "readiness.page_deadline: Value error, 'soon' is not a Prometheus"),
    ("readiness:\n  alerts:\n    WatchdogX: {policy_days: 3}\n", "readiness.alerts.WatchdogX: not a paging alert"),
    ("readiness:\n  alerts:\n    DeadLettersGrowing: {policy_days: 3}\n", "readiness.alerts.DeadLettersGrowing: not a"),
    ("readiness:\n  trend: {runs: 3, creeep: 1}\n", "readiness.trend.creeep: Extra inputs are not permitted"),
])
def test_a_bad_section_is_one_line_with_file_line_and_key(section, message):
    text = without_readiness(CATALOG_PATH) + "\n" + section
    with pytest.raises(CatalogError) as err:
        parse_catalog(text, "moneypath.yaml")
    lines = text.splitlines()
    [problem] = err.value.problems
    where, _, what = problem.partition(": ")
    assert what.startswith(message), problem
    line = int(where.split(":")[1])
    key = message.split(":")[0].split(".")[-1]
    assert key in lines[line - 1], (problem, lines[line - 1])


def test_the_ticket_shop_catalog(foreign):
    c = with_readiness(FOREIGN_PATH, "readiness:\n  page_deadline: 15m\n  alerts:\n    ProviderPartialOutage: "
                                     "{policy_days: 30}\n")
    names = paging_alerts(c)
    assert all(n.startswith("Shop") for n in names.values()) and "ChargeAvailabilityBudgetBurn" in names
    outage = names["ProviderPartialOutage"]
    slow = [h.run("komoju-down", NOW - d * 86400, [h.alert(outage, 1200)]) for d in (1, 2, 3)]
    items = readiness(c, slow, FOREIGN_PATH.parent, NOW)
    got = _by_alert(items)
    assert got[outage].status == PASS and got[outage].trend == FAIL  # 20 min over its 15 min deadline
    assert items[-1].alert == outage  # the others were never rehearsed: listed first


def test_the_ticket_shop_gets_its_own_rules_and_board(foreign):
    from moneypath.generate.dashboards import dashboards
    from moneypath.generate.readiness_rules import GROUP
    from moneypath.generate.rules import alert_rules

    c = with_readiness(FOREIGN_PATH)
    [group] = [g for g in alert_rules(c)["groups"] if g["name"] == GROUP]
    assert {r["alert"] for r in group["rules"]} == {"ShopReadinessLapsed", "ShopTimeToPageCreeping"}
    assert all('service="tickets"' in r["expr"] and r["labels"]["severity"] == "ticket" for r in group["rules"])
    assert "shop-readiness" in dashboards(c) and "shop-readiness" not in dashboards(foreign)
    assert GROUP not in {g["name"] for g in alert_rules(foreign)["groups"]}  # no section, no readiness rules
