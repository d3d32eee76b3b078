"""Where a load test sends its load: the service given (--host), the stack running from --state-dir, or a
fresh stack started for the run and stopped after it; and the Locust exporter as that Prometheus's target.

`options` is the command's parsed options (host, prometheus, no_prometheus, providersim, faultproxy, no_auth,
token, state_dir and, for `moneypath loadtest`, instances).
"""

from __future__ import annotations

import os
from pathlib import Path

from moneypath.catalog import Catalog
from moneypath.loadtest import launch, runner
from moneypath.loadtest.inputs import UsageError
from moneypath.stack import local as stack


def open_target(c: Catalog, options, exporter_port: int, locustfile: Path | None = None, say=print):
    """The target to load (runner.Target; `owned` when started here). A locustfile that knows nothing of moneypath
    sends its own headers: it needs no token, and gets one only if there is one."""
    state_dir = Path(options.state_dir)
    instances = getattr(options, "instances", 1)
    if options.token and options.no_auth:
        raise UsageError("--token and --no-auth: choose one")
    if options.host is None and runner.running_stack(state_dir) is None:
        if options.prometheus or options.providersim or options.faultproxy or options.no_auth or options.token:
            raise UsageError("--prometheus, --providersim, --faultproxy, --no-auth and --token go with --host")
        target = runner.start_stack(c, state_dir / "loadtest", exporter_port, say, instances=instances)
    else:
        if instances > 1:
            raise UsageError("--instances starts a stack of that many instances: leave out --host, or stop the "
                             "running stack (whose own instances are used as they are)")
        try:
            env = {**os.environ, "MONEYPATH_TOKEN": options.token} if options.token else None
            target = runner.existing_target(state_dir, options.host, options.prometheus, options.providersim,
                                            env=env, faultproxy=options.faultproxy, auth=not options.no_auth,
                                            need_token=locustfile is None or launch.knows_moneypath(locustfile))
        except runner.LoadTestError as exc:
            raise UsageError(str(exc)) from None
        if target.prometheus is None and not options.no_prometheus:
            gates = "duplicate-charge, ledger" + (" and reconciliation" if c.enabled("reconciliation") else "")
            raise UsageError(f"no Prometheus scrapes {target.host}: the {gates} gates need one: pass "
                             "--prometheus URL, or --no-prometheus to judge without them")
        if not options.no_prometheus:
            runner.add_exporter_target(target, exporter_port)
    if options.no_prometheus:
        target.prometheus = None
    return target


def close_target(target) -> None:
    """Undo what open_target did: the exporter's scrape target removed, a stack started here stopped."""
    if target is None:
        return
    runner.remove_exporter_target(target)
    if target.owned:
        stack.down(target.state_dir, progress=lambda *_: None)
