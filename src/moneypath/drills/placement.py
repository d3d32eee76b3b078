"""Where a `moneypath drill run` drills, and why a drill cannot run there, decided before anything starts: a stack
of the drill's own, or the running environment the run spec's target names (the Target, with tokens minted from
MONEYPATH_TOKEN_SECRET or read from the environment, and the `moneypath up --ha` stack a replica_down may kill).

`placement(drills, spec)` returns the Target (None: each drill starts its own stack of spec.stack's shape) or raises
NotReady, one line; `cannot_run(drill, target)` is the one line why a drill cannot run against a given target (its
credentials, fault API or hook variables missing), checked before its preflight. `spec` is the command's
moneypath.stack.spec.RunSpec (moneypath.cli.where.run_spec: options, environment, moneypath.run.yaml).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from moneypath.drills.endpoints import Target
from moneypath.drills.hooks import missing_env
from moneypath.formats.drill import Drill, ha_problem, needs_ha
from moneypath.protocol.tokens import issue
from moneypath.stack.spec import RunSpec

URLS = ("service", "prometheus", "faultproxy", "providersim", "alertmanager", "pager")  # --target-<name>


class NotReady(Exception):
    """The drills cannot run as asked; the message is one line."""


def placement(drills: list[Drill], spec: RunSpec, env: Mapping[str, str] | None = None) -> Target | None:
    """The target the drills run against (None: a stack of their own each), once every drill can run there."""
    for d in drills:
        if d.tabletop_only:
            raise NotReady(f"{d.path}: a tabletop drill (no load: or fault: yet) cannot run; rehearse it with its "
                           "tabletop cards, or give it load and a fault your service can take")
    target = target_from(spec, env)
    shape = spec.stack
    if target is not None and (shape.engine != "prometheus" or shape.ha or shape.instances != 1 or shape.postgres):
        raise NotReady("engine, ha, instances and postgres (the run config's stack: section, or $MONEYPATH_ENGINE, "
                       "_HA, _INSTANCES, _POSTGRES) shape the stack a drill starts; with --target-* the drill runs on "
                       "the stack you give (start it with `moneypath up`, give its other instances as "
                       "target.instances)")
    if target is None and spec.target.instances:
        raise NotReady("target.instances ($MONEYPATH_TARGET_INSTANCES) goes with --target-service")
    if target is not None and any(needs_ha(d) for d in drills):
        target.stack_dir = ha_stack(Path(spec.state_dir), target.prometheus)
    for d in drills:  # before anything starts: a drill that kills a replica needs the pair, not a failure halfway
        why = ha_problem(d, shape.ha if target is None else target.stack_dir is not None, own_stack=target is None)
        if why:
            raise NotReady(why)
    if target is None:
        for d in drills:
            if d.fault is not None and d.fault.where in ("faultproxy", "hook"):
                raise NotReady(f"{d.path}: its fault goes through the {d.fault.where}, which the local stack (the "
                               "reference service and its simulator) does not run: give --target-service and the "
                               "other --target-* of your environment")
    return target


def target_from(spec: RunSpec, env: Mapping[str, str] | None = None) -> Target | None:
    """The environment the spec's target names (None when it names none), its tokens minted from
    MONEYPATH_TOKEN_SECRET, else read from MONEYPATH_DRILL_TOKEN and MONEYPATH_DRILL_ADMIN_TOKEN."""
    env = os.environ if env is None else env
    given = {n: getattr(spec.target, n) for n in URLS}
    if not spec.target.given:
        return None
    missing = [n for n in ("service", "prometheus") if not given[n]]
    if missing:
        raise NotReady(f"with --target-* give at least --target-{' and --target-'.join(missing)}")
    if not given["pager"] and not given["alertmanager"]:
        # without a page source no page is ever seen: "detected" could not pass, "no unexpected pages" could not fail
        raise NotReady("with --target-* give --target-pager or --target-alertmanager: without a page source the "
                       "drill cannot tell who was paged")
    if spec.time_factor <= 0:
        raise NotReady("--time-factor must be positive")
    secret = env.get("MONEYPATH_TOKEN_SECRET")
    if secret:
        payments = issue(secret.encode(), "drill_merchant", ["payments:write", "payments:read"], ttl_s=3600)
        admin = issue(secret.encode(), "drill_operator", ["admin:faults"], ttl_s=3600)
    else:
        payments, admin = env.get("MONEYPATH_DRILL_TOKEN", ""), env.get("MONEYPATH_DRILL_ADMIN_TOKEN")
    return Target(**given, db_url=spec.target.db_url, payments_token=payments, admin_token=admin,
                  started_stack=False, time_factor=spec.time_factor, instances=spec.target.instances,
                  probe_headroom=spec.target.probe_headroom, shared=spec.target.shared)


def cannot_run(d: Drill, target: Target, env: Mapping[str, str] | None = None) -> str | None:
    """Why drill `d` cannot run against `target` (one line), or None."""
    env = os.environ if env is None else env
    api = d.load.requests
    if api.auth == "minted" and not target.payments_token:
        return (f"{d.path}: load.requests.auth is minted: set MONEYPATH_TOKEN_SECRET, or MONEYPATH_DRILL_TOKEN, "
                "to call the target service (or auth: bearer / none)")
    if api.auth == "bearer" and not env.get(api.token_env):
        return f"{d.path}: load.requests.auth is bearer: set {api.token_env} to the token for the target service"
    fault = d.fault
    if fault is not None and fault.where not in ("hook", "service") and not getattr(target, fault.where):
        return f"{d.path}: fault {fault.name} goes through the {fault.where}: give --target-{fault.where}"
    if fault is not None and fault.where != "hook" and not target.admin_token:
        return (f"{d.path}: injecting {fault.name} needs an admin:faults token (MONEYPATH_TOKEN_SECRET or "
                "MONEYPATH_DRILL_ADMIN_TOKEN)")
    unset = missing_env(d, env)
    if unset:
        return f"{d.path}: its requests, fault hook or an action read ${{{unset[0]}}}, which is not set"
    return None


def ha_stack(state_dir: Path, prometheus: str) -> str | None:
    """The state directory of a running `moneypath up --ha` stack whose Prometheus pair answers at `prometheus`:
    the processes a drill's replica_down may kill. None when there is no such stack."""
    from moneypath.stack import local as stack

    state = stack.load_state(state_dir.resolve())
    if state is None or not state.ha:
        return None
    urls = {p.url.rstrip("/") for p in state.parts if p.name.startswith("prometheus")}
    return state.state_dir if prometheus.rstrip("/") in urls else None
