"""The Django shop's canary rehearsed for real: two instances of the shop (tests/support/djangoshop: web, Celery
worker, Redis and provider stubs each), the baseline and the canary, scraped with track="baseline" and
track="canary" (web and worker alike), half the checkouts to each, judged by the canary judge
(tests/foreign/djangoshop/ops/runbooks/drills/canary-releases.yaml). A release whose authorizations are all 100 ms
slower and one whose captures cost 60 % more fail, each on its own metric; the good release passes."""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from unittest import mock

import pytest

from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import TRACK_LABEL, TRACKS
from tests.conftest import ROOT
from tests.integration.canary.test_drill_run import _figures, failed_on
from tests.support.djangoshop import FOREIGN, running_shop

pytestmark = [pytest.mark.integration, pytest.mark.exclusive]

OPS = FOREIGN / "djangoshop" / "ops"
DRILL = OPS / "runbooks" / "drills" / "canary-releases.yaml"


def test_the_django_shops_slower_and_dearer_releases_fail_and_its_good_one_passes(tmp_path):
    from moneypath.canary.drill_file import load_canary_drill
    from moneypath.canary.drill_run import CanaryTarget
    from moneypath.canary.stage import run_canary_drill
    from moneypath.stack import local as stack

    catalog = load_catalog(OPS / "moneypath.yaml")
    state_dir = tmp_path / "state"
    started = time.monotonic()
    with ExitStack() as running:
        shops = {track: running.enter_context(running_shop(f"sqlite:///{tmp_path / f'{track}.db'}",
                                                           tmp_path / track)) for track in TRACKS}
        env = {f"CANARY_{name.upper()}_URL": url for name, url in shops["canary"].providers.items()}
        running.enter_context(mock.patch.dict(os.environ, env))  # what the drill file's hooks read
        drill = load_canary_drill(DRILL, catalog, ROOT)
        state = stack.up(catalog, state_dir, stack.StackSpec(fast=True), progress=lambda *_: None)
        running.callback(stack.down, state_dir.resolve(), progress=lambda *_: None)
        for track, shop in shops.items():
            stack.set_extra_scrape_targets(state_dir, f"shop-{track}", [shop.url.removeprefix("http://"),
                                                                        shop.worker_metrics], {TRACK_LABEL: track})
        baseline, canary = TRACKS
        target = CanaryTarget(baseline=shops[baseline].url, canary=shops[canary].url,
                              prometheus=state.url("prometheus"), baseline_selector=f'{TRACK_LABEL}="{baseline}"',
                              canary_selector=f'{TRACK_LABEL}="{canary}"', scrape_interval_s=1.0, env=env)
        journal, out = run_canary_drill(drill, catalog, tmp_path / "reports", target)
    print(f"\nthe Django shop's canary drill in {time.monotonic() - started:.0f} s: {_figures(journal)}")
    releases = {r["release"]: r for r in journal["releases"]}
    assert [r["verdict"] for r in journal["releases"]] == ["fail", "fail", "pass"], \
        {name: r["reason"] for name, r in releases.items()}
    assert "cost_per_transaction" in failed_on(releases["dearer"]), releases["dearer"]["judge_report"]["reason"]
    assert "latency_shift" in failed_on(releases["slower"]), releases["slower"]["judge_report"]["reason"]
    assert "cost_per_transaction" not in failed_on(releases["slower"]), releases["slower"]["judge_report"]["reason"]
    assert journal["verdict"] == "pass" and (out / "report.md").exists()
