"""The canary rehearsed for real on loopback: releases shipped through a canary taking a share of the payments beside
a baseline of the same age (the reference service: half, beside a baseline of its size; the ticket shop: 10 %), each
judged by the canary judge until it has a verdict.

The reference service (runbooks/drills/canary-releases.yaml, through `moneypath drill run`): latency, declines for
one provider and a 1 % duplicate capture fail, the duplicate within one scrape interval plus one judge interval of
its first occurrence; a broken release (nine provider calls in ten failing) fails on its provider errors, a slower
one (every provider call 100 ms later, under the latency threshold) on its latency distribution, a dearer one
(every cost 2.2 times) on its cost per transaction; the good release passes, on its planned sample. The ticket
shop (tests/foreign), two instances of it: its duplicate charge fails at its first occurrence, its good release
passes."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import TRACK_LABEL, TRACKS
from moneypath.cli import main
from tests.conftest import ROOT
from tests.docs_examples import args_of, code_block, shell

pytestmark = pytest.mark.integration


def _figures(journal: dict) -> str:
    return "; ".join(f"{r['release']} {r['verdict']} after {r['time_to_verdict_s']} s (canary "
                     f"{r['canary_authorizations']} authorizations of {r['canary_payments']} payments)"
                     + (f", duplicate → fail {r['duplicate_to_fail_s']} s" if r["duplicate_to_fail_s"] else "")
                     for r in journal["releases"])


def failed_on(release: dict) -> set[str]:
    """The metrics whose test failed at the release's last look."""
    return {m["metric"] for m in release["judge_report"]["metrics"] if m["status"] == "fail"}


def _check_duplicate(release: dict) -> None:
    assert release["verdict"] == "fail" and release["first_occurrence"], release["reason"]
    assert release["duplicate_to_fail_s"] is not None, release["reason"]
    assert release["duplicate_to_fail_s"] <= release["duplicate_bound_s"], release
    assert any(i["invariant"] == "duplicate_charges" and i["status"] == "fail"
               for i in release["judge_report"]["invariants"]), release["judge_report"]["invariants"]


def test_the_reference_releases_fail_fail_fail_and_pass(tmp_path, capsys):
    started = time.monotonic()
    run = args_of(shell(code_block("docs/canary.md", "Rehearse a canary", "sh"))[0])  # the command as documented
    assert run == ["drill", "run", "runbooks/drills/canary-releases.yaml"], run
    code = main([*run[:2], str(ROOT / run[2]), "--catalog", str(ROOT / "moneypath.yaml"),
                 "--state-dir", str(tmp_path / "state"), "--reports", str(tmp_path / "reports")])
    out = capsys.readouterr().out
    (path,) = (tmp_path / "reports").glob("canary-releases-*/journal.json")
    journal = json.loads(path.read_text())
    print(f"\nthe reference canary drill in {time.monotonic() - started:.0f} s: {_figures(journal)}")
    releases = {r["release"]: r for r in journal["releases"]}
    assert [r["verdict"] for r in journal["releases"]] == ["fail"] * 6 + ["pass"], out[-3000:]
    assert "slow_authorizations" in releases["latency"]["reason"] + releases["latency"]["judge_report"]["reason"]
    # more declines at one provider: the declines, or the approvals that fall with them, whichever crosses first
    assert failed_on(releases["declines-acme"]) & {"decline_ratio", "approval_ratio"}, \
        releases["declines-acme"]["judge_report"]["reason"]
    _check_duplicate(releases["duplicate-capture"])
    # the provider's errors, or (once the service's circuit breaker opens and no call reaches it) the failed
    # authorizations and the approvals
    assert failed_on(releases["broken"]) & {"provider_error_ratio", "authorization_failure_ratio", "approval_ratio"}, \
        releases["broken"]["judge_report"]["reason"]
    # the shift; on a busy machine the added 100 ms also pushes the share over the SLO threshold, which may cross first
    assert failed_on(releases["slower"]) & {"latency_shift", "slow_authorizations"}, \
        releases["slower"]["judge_report"]["reason"]
    assert failed_on(releases["dearer"]) == {"cost_per_transaction"}, releases["dearer"]["judge_report"]["reason"]
    good = releases["good"]
    assert good["canary_authorizations"] >= 0.4 * (good["canary_authorizations"] + good["baseline_authorizations"])
    assert (path.parent / "report.md").read_text().count("| PASS") == 7
    assert code == 0, out[-3000:]


def test_the_ticket_shops_duplicate_fails_at_once_and_its_good_release_passes(tmp_path):
    from moneypath.canary.drill_file import load_canary_drill
    from moneypath.canary.drill_run import CanaryTarget
    from moneypath.canary.stage import run_canary_drill
    from moneypath.stack import local as stack
    from tests.foreign.harness import shop

    catalog_path = ROOT / "tests" / "foreign" / "moneypath.yaml"
    catalog = load_catalog(catalog_path)
    drill = load_canary_drill(ROOT / "tests" / "foreign" / "drills" / "canary-releases.yaml", catalog, ROOT)
    state_dir = tmp_path / "state"
    started = time.monotonic()
    with ExitStack() as running:
        shops = {track: running.enter_context(shop(catalog_path))["shop"] for track in TRACKS}
        state = stack.up(catalog, state_dir, stack.StackSpec(fast=True), progress=lambda *_: None)
        running.callback(stack.down, state_dir.resolve(), progress=lambda *_: None)
        for track, url in shops.items():
            stack.set_extra_scrape_targets(state_dir, f"shop-{track}", [url.removeprefix("http://")],
                                           {TRACK_LABEL: track})
        baseline, canary = TRACKS
        target = CanaryTarget(baseline=shops[baseline], canary=shops[canary], prometheus=state.url("prometheus"),
                              baseline_selector=f'{TRACK_LABEL}="{baseline}"',
                              canary_selector=f'{TRACK_LABEL}="{canary}"', scrape_interval_s=1.0)
        journal, out = run_canary_drill(drill, catalog, tmp_path / "reports", target)
    print(f"\nthe ticket shop's canary drill in {time.monotonic() - started:.0f} s: {_figures(journal)}")
    releases = {r["release"]: r for r in journal["releases"]}
    _check_duplicate(releases["duplicate-charge"])
    assert releases["good"]["verdict"] == "pass", releases["good"]["reason"]
    assert journal["verdict"] == "pass" and Path(out / "report.md").exists()
