"""Every kind of check the product runs is in moneypath._common.verdict.CHECK_KINDS, and is walked four ways
(tests/support/check_kinds.py): (a) with data — a plausible input passes (so the other ways are not vacuous) and
a bad one fails; (b) with empty answers — not measured, never a pass and never a zero; (c) with the catalog
feature it depends on switched off; (d) with a configuration that skips it (`if_not_measured: pass`, a scenario's
skip_gates, a drill that names no business service, ...) — shown as not measured or skipped. None reads pass
without evidence, and none raises. A kind registered without all four ways fails the first test: a new kind must
say what it does in each (a way that does not apply is a sentence saying why)."""

from __future__ import annotations

import pytest

from moneypath._common.verdict import CHECK_KINDS, FAIL, NOT_MEASURED, PASS
from tests.support import check_kinds_checks, check_kinds_drills, check_kinds_money
from tests.support.check_kinds import ABSENT, NO_FAIL, NO_FEATURE, NO_SKIP, SKIP, Ways, import_everything, run

WAYS: dict[str, Ways] = {**check_kinds_drills.WAYS, **check_kinds_money.WAYS, **check_kinds_checks.WAYS}
XFAIL = {**check_kinds_money.XFAIL, **check_kinds_checks.XFAIL}
# What an empty answer gives where it is not "not measured", and why.
NOT_NOT_MEASURED = {
    # no objective at all: the run stopped before it judged anything, a fail (journal.objectives_verdict)
    "drills.objectives": "fail",
}
EXPLAINED = {"fails": NO_FAIL, "feature_off": NO_FEATURE, "skipped": NO_SKIP}


def _params(way: str):
    out = []
    for name in sorted(WAYS):
        case = getattr(WAYS[name], way)
        if isinstance(case, str):
            continue
        reason = XFAIL.get((name, way))
        out.append(pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=reason)) if reason else name)
    return out


def _walk(name: str, way: str, catalog) -> list[str]:
    import_everything()
    statuses = run(getattr(WAYS[name], way), CHECK_KINDS[name], catalog)
    assert statuses, f"{name}: the {way} case judged nothing"
    return statuses


def test_every_registered_kind_of_check_is_walked_four_ways():
    import_everything()
    assert CHECK_KINDS, "nothing registered"
    missing = sorted(set(CHECK_KINDS) - set(WAYS))
    assert not missing, f"kinds of check without their four ways in tests/support/check_kinds_*.py: {', '.join(missing)}"
    gone = sorted(set(WAYS) - set(CHECK_KINDS))
    assert not gone, f"cases for kinds nobody registers: {', '.join(gone)}"
    for name, ways in WAYS.items():
        assert callable(ways.passes) and callable(ways.empty), name
        for way, prefix in EXPLAINED.items():
            case = getattr(ways, way)
            if isinstance(case, str):  # a way that does not apply says so, and why
                assert case.startswith(prefix) and len(case) > len(prefix) + 10, (name, way, case)
            else:
                assert callable(case), (name, way)
    assert any(not isinstance(ways.feature_off, str) for ways in WAYS.values()), "no kind depends on a feature"


@pytest.mark.parametrize("name", _params("passes"))
def test_with_data_a_plausible_input_passes(name, catalog):
    statuses = _walk(name, "passes", catalog)
    assert set(statuses) == {PASS}, (name, statuses)


@pytest.mark.parametrize("name", _params("fails"))
def test_with_data_a_bad_input_fails(name, catalog):
    statuses = _walk(name, "fails", catalog)
    assert FAIL in statuses, (name, statuses)


@pytest.mark.parametrize("name", _params("empty"))
def test_an_empty_answer_is_not_measured_never_a_pass(name, catalog):
    statuses = _walk(name, "empty", catalog)
    assert PASS not in statuses, (name, statuses)
    assert set(statuses) == {NOT_NOT_MEASURED.get(name, NOT_MEASURED)}, (name, statuses)


@pytest.mark.parametrize("name", _params("feature_off"))
def test_with_its_feature_off_a_kind_is_skipped_or_absent_never_a_pass(name, catalog):
    statuses = _walk(name, "feature_off", catalog)
    assert set(statuses) <= {NOT_MEASURED, SKIP, ABSENT}, (name, statuses)


@pytest.mark.parametrize("name", _params("skipped"))
def test_a_configuration_that_skips_a_kind_shows_it_not_measured_or_skipped(name, catalog):
    statuses = _walk(name, "skipped", catalog)
    assert set(statuses) <= {NOT_MEASURED, SKIP}, (name, statuses)


def test_an_acknowledged_capture_the_provider_counts_0_times_is_not_captured_once():
    from moneypath.drills.money import captured_once

    check = captured_once([{"id": "p1", "captures": 0}, {"id": "p2", "captures": 1}], {"p1", "p2"})
    assert "1 of 2 acknowledged captures found once" in check.why and "p1" in check.why, check.why
    check = captured_once([{"id": "p1", "captures": 0}], {"p1"})
    assert check.outcome is NOT_MEASURED, check.why


def test_a_target_that_captures_by_itself_and_twice_fails_captured_once(catalog):
    """Issue 68, item 2: the drill asks for no capture (load.capture: 0), the target captured p1 twice and the
    team's capture_counts query says so: "captured once" fails, naming the payment."""
    from tests.support.check_kinds_money import _Db, _impact, _objective, outcomes_captured_twice
    from tests.support.feature_catalogs import without

    shop = without("ledger")
    [(name, st, why)] = _objective(shop, _impact(acknowledged=2, lost=0), db=_Db(shop, captures=2), capture=0.0,
                                   outcomes=outcomes_captured_twice())
    assert (name, st) == ("money_kept", FAIL) and "p1" in why, why
