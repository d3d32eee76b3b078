"""Where a load test sends its load: the service given (--host), the stack running from --state-dir, or a
fresh stack started for the run and stopped after it; and the Locust exporter as that Prometheus's target.

Where is the command's moneypath.stack.spec.RunSpec (`where`: its target's service, prometheus, providersim and
faultproxy, its stack's instances, its state directory); `options` the command's parsed options for the rest
(no_prometheus, no_auth, token).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from moneypath.catalog import Catalog
from moneypath.loadtest.command import launch
from moneypath.loadtest.command.inputs import UsageError
from moneypath.loadtest.command.run_types import LoadTarget, LoadTestError
from moneypath.protocol.tokens import issue
from moneypath.stack import local as stack
from moneypath.stack.spec import RunSpec
from moneypath.stack.state import StackState

LOCUST_JOB = "locust"
# The load test's stack evaluates the rules as production does, not every second: nothing it judges reads a rule,
# and at 1 s the SLO rules over 1d/3d/30d windows re-read every sample since the stack started, every second — a
# cost that grows with the run on the cores the service shares. Why: docs/decisions/0011-load-test-rules-every-15s.md
RULES_EVERY = "15s"


def _mint(secret: bytes, ttl_s: float) -> tuple[str, str]:
    return (issue(secret, "loadtest", ["payments:write", "payments:read"], ttl_s=int(ttl_s)),
            issue(secret, "loadtest_ops", ["admin:faults"], ttl_s=int(ttl_s)))


def running_stack(state_dir: Path) -> StackState | None:
    state = stack.load_state(state_dir.resolve())
    if state is None or not any(p.name == "refservice" for p in state.parts):
        return None
    rows = stack.status(state_dir)
    return state if rows and all(ok for _, _, ok, _ in rows) else None


def start_stack(c: Catalog, state_dir: Path, exporter_port: int, progress=print, db_url: str | None = None,
                service_workers: int = 1, instances: int = 1) -> LoadTarget:
    """A fresh stack (services, faults on, 1 s scrapes, the rules every RULES_EVERY) whose Prometheus scrapes the
    Locust exporter; the service on `db_url` (default its own SQLite file) with `service_workers` processes."""
    stack.down(state_dir, progress=lambda *_: None)
    shutil.rmtree(state_dir, ignore_errors=True)
    progress(f"starting the stack in {state_dir} ...")
    spec = stack.StackSpec([f"127.0.0.1:{exporter_port}"], fast=True, services=True, faults=True, db_url=db_url,
                           service_workers=service_workers, instances=instances, rules_every=RULES_EVERY,
                           target_wait_s=0)  # the exporter is Locust's, started after the stack: not waited for
    state = stack.up(c, state_dir, spec, progress=lambda *_: None)
    token, admin = _mint(stack.read_secrets(state_dir.resolve())["token_secret"].encode(), 24 * 3600)
    return LoadTarget(state.url("refservice"), state.url("prometheus"), state.url("providersim"), token, admin,
                      state_dir=state_dir, owned=True, instances=tuple(state.service_urls()[1:]))


def existing_target(state_dir: Path | None, host: str | None, prometheus: str | None, providersim: str | None,
                    env: dict | None = None, faultproxy: str | None = None, auth: bool = True,
                    need_token: bool = True) -> LoadTarget:
    """A service given by URL, or the one the stack in `state_dir` runs. Credentials come from that
    stack's secrets, else $MONEYPATH_TOKEN/$MONEYPATH_ADMIN_TOKEN or a secret in $MONEYPATH_TOKEN_SECRET;
    with `auth` False no API token is needed or sent (fault APIs still need the admin token); with
    `need_token` False (a locustfile that sends its own headers) one is passed on when there is one.
    A stack in `state_dir` without the service (`moneypath up --no-services --target ...`) still
    supplies its Prometheus, which then also scrapes Locust."""
    env = os.environ if env is None else env
    state = stack.load_state(state_dir.resolve()) if state_dir else None
    if state is not None and not all(ok for _, _, ok, _ in stack.status(state_dir)):
        state = None  # recorded, but not (all) running
    names = {p.name for p in state.parts} if state is not None else set()
    token = admin = None
    instances: tuple[str, ...] = ()
    if state is not None and "refservice" in names and (not host or host.rstrip("/") == state.url("refservice")):
        instances = tuple(state.service_urls()[1:])
        token, admin = _mint(stack.read_secrets(Path(state.state_dir))["token_secret"].encode(), 24 * 3600)
        host = host or state.url("refservice")
        providersim = providersim or state.url("providersim")
    elif env.get("MONEYPATH_TOKEN_SECRET"):
        token, admin = _mint(env["MONEYPATH_TOKEN_SECRET"].encode(), 24 * 3600)
    if state is not None and "prometheus" in names:
        prometheus = prometheus or state.url("prometheus")
    if "faultproxy" in names:
        faultproxy = faultproxy or state.url("faultproxy")
    token = (env.get("MONEYPATH_TOKEN") or token) if auth else None
    admin = env.get("MONEYPATH_ADMIN_TOKEN") or admin
    if not host:
        raise LoadTestError("no target: pass --host URL, or start a stack with `moneypath up --faults`")
    if auth and need_token and not token:
        # a stack that only scrapes the service (`moneypath up --target`) holds no secret of that service
        stack_note = (f" (the stack in {state_dir} does not run {host}, so it has no token for it)"
                      if state is not None else "")
        raise LoadTestError(f"no API token for {host}{stack_note}: set $MONEYPATH_TOKEN (scopes payments:write "
                            "payments:read) or $MONEYPATH_TOKEN_SECRET, pass --state-dir of the stack that runs it, "
                            "or --no-auth when the service takes none")
    return LoadTarget(host.rstrip("/"), prometheus, providersim, token, admin, faultproxy,
                      Path(state.state_dir) if state is not None else None, instances=instances)


def add_exporter_target(target: LoadTarget, exporter_port: int) -> None:
    """Make the stack's Prometheus scrape the Locust exporter (job `locust`): the stack adds the job and reloads."""
    if target.state_dir is None or target.owned:
        return
    state = stack.load_state(target.state_dir.resolve())
    if state is None or not target.prometheus or target.prometheus.rstrip("/") != state.url("prometheus"):
        return
    try:
        stack.set_extra_scrape_targets(target.state_dir, LOCUST_JOB, [f"127.0.0.1:{exporter_port}"])
    except stack.StackError as exc:
        raise LoadTestError(str(exc)) from None
    target.reloaded_prometheus = True


def remove_exporter_target(target: LoadTarget) -> None:
    if not target.reloaded_prometheus:
        return
    try:
        stack.set_extra_scrape_targets(target.state_dir, LOCUST_JOB, [])
    except stack.StackError:
        pass  # the stack went away meanwhile
    target.reloaded_prometheus = False


# ---------------------------------------------------------------- Locust processes


def open_target(c: Catalog, options, exporter_port: int, locustfile: Path | None = None, say=print, *,
                where: RunSpec, instances: int | None = None):
    """The target to load (LoadTarget; `owned` when started here). A locustfile that knows nothing of moneypath
    sends its own headers: it needs no token, and gets one only if there is one. A stack started here runs
    `instances` reference services (default: where.stack.instances)."""
    state_dir, given = where.state_dir, where.target
    instances = where.stack.instances if instances is None else instances
    if options.token and options.no_auth:
        raise UsageError("--token and --no-auth: choose one")
    if given.service is None and running_stack(state_dir) is None:
        if given.prometheus or given.providersim or given.faultproxy or options.no_auth or options.token:
            raise UsageError("--prometheus, --providersim, --faultproxy, --no-auth and --token go with --host")
        target = start_stack(c, state_dir / "loadtest", exporter_port, say, instances=instances)
    else:
        if instances > 1:
            raise UsageError("stack.instances ($MONEYPATH_INSTANCES) starts a stack of that many instances: leave out "
                             "--host, or stop the "
                             "running stack (whose own instances are used as they are)")
        try:
            env = {**os.environ, "MONEYPATH_TOKEN": options.token} if options.token else None
            target = existing_target(state_dir, given.service, given.prometheus, given.providersim,
                                            env=env, faultproxy=given.faultproxy, auth=not options.no_auth,
                                            need_token=locustfile is None or launch.knows_moneypath(locustfile))
        except LoadTestError as exc:
            raise UsageError(str(exc)) from None
        if target.prometheus is None and not options.no_prometheus:
            needing = ["service latency", "duplicate-charge"] + [name for name in ("ledger", "reconciliation")
                                                                 if c.enabled(name)]
            gates = ", ".join(needing[:-1]) + " and " + needing[-1]
            raise UsageError(f"no Prometheus scrapes {target.host}: the {gates} gates need one: pass "
                             "--prometheus URL, or --no-prometheus to judge without them")
        if not options.no_prometheus:
            add_exporter_target(target, exporter_port)
    if options.no_prometheus:
        target.prometheus = None
    target.shared = given.shared  # traffic of its own (target.shared): the conservation of counts is one-sided
    return target


def close_target(target) -> None:
    """Undo what open_target did: the exporter's scrape target removed, a stack started here stopped."""
    if target is None:
        return
    remove_exporter_target(target)
    if target.owned:
        stack.down(target.state_dir, progress=lambda *_: None)
