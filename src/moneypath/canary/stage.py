"""The reference service's canary stage on loopback: a local stack (Prometheus, Alertmanager, the pager) and two
tracks of the reference service on it, baseline and canary (moneypath.stack.tracks), each with its own provider
simulator and ledger, scraped with track="baseline" and track="canary"; the canary restarts clean between
releases."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from moneypath.canary.drill_run import CanaryTarget
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import TRACK_LABEL, TRACKS
from moneypath.formats.drill import LOCAL_TIME_FACTOR
from moneypath.stack.spec import StackSpec

BASELINE, CANARY = TRACKS


def stage_shape(shape: StackSpec | None = None) -> StackSpec:
    """The stage's stack, from the command's `shape` (its RunSpec's): the reference stage's own parts (no services of
    its own: the tracks are the services; one Prometheus, one Alertmanager), 1 s scrapes and the rules compressed by
    the drills' one time factor, LOCAL_TIME_FACTOR."""
    return replace(shape or StackSpec(), fast=True, services=False, faults=False, ha=False, postgres=False,
                   instances=1, engine="prometheus", time_factor=LOCAL_TIME_FACTOR)


def local_stage(catalog: Catalog, state_dir: Path, say: Callable[[str], None] = print,
                shape: StackSpec | None = None) -> tuple[CanaryTarget, Callable[[], None]]:
    """Start the stage (of stage_shape(shape)) from a fresh `state_dir`; (its target, the function that stops it
    all)."""
    from moneypath.protocol.tokens import issue
    from moneypath.stack import local as stack
    from moneypath.stack.tracks import start_track, stop_track

    state_dir = state_dir.resolve()
    stack.down(state_dir, progress=lambda *_: None)  # an earlier run interrupted hard
    shutil.rmtree(state_dir, ignore_errors=True)
    started = time.time()
    state = stack.up(catalog, state_dir, stage_shape(shape), progress=lambda *_: None)

    def down() -> None:
        stack.down(state_dir, progress=lambda *_: None)

    try:
        tracks = {name: start_track(catalog, state_dir, name) for name in TRACKS}
    except BaseException:
        down()
        raise

    def restart_canary() -> dict[str, str]:
        stop_track(state_dir, CANARY)
        track = start_track(catalog, state_dir, CANARY)
        return {"service": track.service, "providersim": track.providersim, "metrics": track.metrics}

    secret = stack.read_secrets(state_dir)["token_secret"].encode()
    target = CanaryTarget(
        baseline=tracks[BASELINE].service, canary=tracks[CANARY].service, prometheus=state.url("prometheus"),
        baseline_selector=f'{TRACK_LABEL}="{BASELINE}"', canary_selector=f'{TRACK_LABEL}="{CANARY}"',
        scrape_interval_s=1.0, providersims={name: t.providersim for name, t in tracks.items()},
        admin_token=issue(secret, "canary_drill_operator", ["admin:faults"], ttl_s=3600),
        payments_token=issue(secret, "canary_drill_merchant", ["payments:write", "payments:read"], ttl_s=3600),
        restart_canary=restart_canary)
    say(f"stage up in {time.time() - started:.1f} s: baseline {target.baseline}, canary {target.canary}, "
        f"Prometheus {target.prometheus}")
    return target, down


def run_canary_drill(drill, catalog: Catalog, reports_dir: Path, target: CanaryTarget | None = None,
                     state_dir: Path = Path(".moneypath/canary"), say: Callable[[str], None] = print,
                     judge: Callable | None = None, shape: StackSpec | None = None) -> tuple[dict, Path]:
    """Run the drill against `target`, or on a fresh local stage of `shape` (stage_shape; stopped afterwards, also
    on Ctrl-C or an error); (its journal, the report directory)."""
    from moneypath.canary.drill_run import CanaryDrillRun, write_report

    stop = None
    if target is None:
        target, stop = local_stage(catalog, state_dir / drill.name, say, shape)
    try:
        run = CanaryDrillRun(drill, catalog, target, say, **({"judge": judge} if judge else {}))
        journal = run.run()
    finally:
        if stop is not None:
            stop()
    out = write_report(journal, reports_dir)
    say(f"report: {out / 'report.md'}")
    return journal, out
