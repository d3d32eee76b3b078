"""With `--database URL` the money invariants name the payments involved: the catalog's money_checks.breaks, found
since the canary started, name those charged twice and find captures the service's records lost (writes lost).
Without a database a failed gate says so, and writes lost is shown as not measured without blocking a verdict."""

from __future__ import annotations

from sqlalchemy import create_engine, insert

from moneypath.canary.judge import Judge
from moneypath.reference.refservice.db import reconciliation_breaks
from tests.support.canary_prom import FakePrometheus, arm, install

NOW = 1_800_000_000.0


def _breaks(url: str, *rows: tuple[str, str, float]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for i, (kind, payment, found_at) in enumerate(rows):
            conn.execute(insert(reconciliation_breaks).values(
                provider="acme", kind=kind, subject=f"line-{i}", payment_id=payment, amount_minor=1200,
                currency="EUR", detail="test", found_at=found_at))
    engine.dispose()


def _gates(catalog, monkeypatch, database, duplicates=1):
    install(monkeypatch, FakePrometheus(arm(catalog, "canary", duplicates=duplicates) + arm(catalog, "baseline")))
    result = Judge(catalog, "http://prom.test", database=database).judge(
        'track="canary"', 'track="baseline"', str(NOW - 600), now=NOW).as_json()
    return result, {g["invariant"]: g for g in result["invariants"]}


def test_the_database_names_the_duplicates_of_the_window_and_finds_writes_lost(catalog, monkeypatch, ref_db):
    _breaks(ref_db, ("duplicate", "pay_dup1", NOW - 60), ("duplicate", "pay_old", NOW - 3600),
            ("missing_in_ledger", "pay_lost", NOW - 30))
    result, gates = _gates(catalog, monkeypatch, ref_db)
    assert gates["duplicate_charges"]["payments"] == ["pay_dup1"]  # the break before the canary started is not its
    assert "payments charged twice since the canary started (all instances): pay_dup1" in \
        gates["duplicate_charges"]["reason"]
    assert gates["writes_lost"]["status"] == "fail" and gates["writes_lost"]["payments"] == ["pay_lost"]
    assert result["verdict"] == "fail"


def test_a_clean_database_holds_writes_lost(catalog, monkeypatch, ref_db):
    _, gates = _gates(catalog, monkeypatch, ref_db, duplicates=0)
    assert gates["writes_lost"]["status"] == "pass" and gates["writes_lost"]["judged"]


def test_without_a_database_writes_lost_is_shown_not_judged(catalog, monkeypatch):
    result, gates = _gates(catalog, monkeypatch, None)
    assert gates["writes_lost"]["status"] == "not measured" and not gates["writes_lost"]["judged"]
    assert gates["duplicate_charges"]["reason"].endswith("payments not named: no --database")


def test_a_database_that_cannot_be_opened_is_said_in_one_line(catalog, monkeypatch, tmp_path):
    _, gates = _gates(catalog, monkeypatch, f"sqlite:///{tmp_path / 'missing.db'}")
    reason = gates["duplicate_charges"]["reason"]
    assert "; payments not named: " in reason and "\n" not in reason
    assert gates["writes_lost"]["status"] == "not measured" and gates["writes_lost"]["reason"].startswith(
        "not measured: writes lost not checked: cannot open the database ")


def test_a_zero_from_a_detector_the_canary_never_ran_is_inconclusive(catalog, monkeypatch):
    """No duplicate counted and the imbalance at 0, but the canary's detectors never reported a run: neither zero is
    a pass, and each line names the heartbeat of the canary's own series and the window."""
    install(monkeypatch, FakePrometheus(arm(catalog, "canary", detectors_ran=False) + arm(catalog, "baseline")))
    result = Judge(catalog, "http://prom.test").judge('track="canary"', 'track="baseline"', str(NOW - 600),
                                                      now=NOW).as_json()
    gates = {g["invariant"]: g for g in result["invariants"]}
    beat = catalog.metric("detector_last_run_timestamp_seconds")
    assert gates["duplicate_charges"]["status"] == gates["ledger_imbalance"]["status"] == "not measured", gates
    assert gates["duplicate_charges"]["reason"] == (
        f'not measured: no duplicate charge counted, and the duplicate detector was not seen running ({beat}'
        '{detector="duplicates",track="canary"} did not advance between 07:50:00 and 08:00:00 UTC: Prometheus has no '
        'such series)')
    assert "the ledger balance check was not seen running" in gates["ledger_imbalance"]["reason"]
    assert result["verdict"] != "pass"
