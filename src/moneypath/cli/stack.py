"""`moneypath up|down|status`: the local stack (Prometheus, Alertmanager, the pager) on loopback."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath.catalog import load_catalog
from moneypath.cli import where


def add_commands(commands, catalog_arg, state_arg) -> None:
    up = commands.add_parser(
        "up", help="start Prometheus, Alertmanager and the pager on loopback",
        description="Start the local stack on free loopback ports: Prometheus with the generated rules (exemplar "
                    "storage on), Alertmanager with the generated routing, and `moneypath pager` recording every "
                    "page. Configuration, data and logs go to the state directory. The reference service it "
                    "starts (unless --target) signs checkpoints of its audit trail, when the catalog's audit "
                    "feature is on, into the state directory's audit-checkpoints/ with a key made there once "
                    "(audit-checkpoint.key, mode 0600; .pub to verify); up and status say where. Your own "
                    "service (--target) signs its own, or not.")
    catalog_arg(up)
    state_arg(up)
    up.add_argument("--target", action="append", default=[], metavar="HOST:PORT",
                    help="your service to scrape (repeatable): the address serving its /metrics, its API's or a "
                         "metrics port of its own, e.g. 127.0.0.1:8000; the reference service and "
                         "provider simulator are then not started. Until each target has answered a first scrape "
                         "the alert rules are held (see --target-wait)")
    where.option(up, "stack.target_wait", metavar="SECONDS",
                 help="hold the alert rules (recording rules and the Watchdog run) until every --target has "
                      "answered Prometheus' first scrape, saying every 5 s who is still silent, so nothing pages "
                      "about a service still booting; a target silent this long stops the stack (exit 1). 0: "
                      "alert rules on at once, and a target that does not answer within 3 s is only named in a "
                      "warning (default: $MONEYPATH_TARGET_WAIT, else the run config's stack.target_wait, else 120)")
    up.add_argument("--no-services", action="store_true",
                    help="do not start the provider simulator and reference service (scrape only --target)")
    up.add_argument("--faults", action="store_true",
                    help="let drills inject faults into the provider simulator and the service (off by default)")
    up.add_argument("--fast", action="store_true",
                    help="1 s scrape and evaluation intervals and 1 s Alertmanager group_wait (tests and drills); "
                         "default is production-like 15 s")
    where.option(up, "time_factor",
                 help="run compressed copies of the rules, F times faster (rate windows and for: divided by F; "
                      "60 turns 5m into 5 s) to rehearse a page in seconds; alerts/ stays as committed (default: "
                      "$MONEYPATH_TIME_FACTOR, else the run config's time_factor, else 1)")
    where.shape_options(up)
    up.add_argument("--db-url", metavar="URL",
                    help="the reference service's ledger database (SQLAlchemy URL), e.g. "
                         "postgresql+psycopg://user@127.0.0.1:5432/ledger; default: a SQLite file in the state "
                         "directory")
    down = commands.add_parser("down", help="stop the local stack", description="Stop what `moneypath up` started.")
    state_arg(down)
    status = commands.add_parser("status", help="health and URL of each part of the local stack",
                                 description="Show each part's health, URL and, for Prometheus, its scrape targets "
                                             "(those down, and those whose counters went backwards in the last 5 "
                                             "minutes: several workers behind one port without multiprocess mode, "
                                             "their rates not data); for the reference service, where its audit "
                                             "checkpoints go and the newest seq signed.")
    state_arg(status)
    for command in (up, down, status):
        command.set_defaults(run=_stack)


def _state_flag(args) -> str:
    default = os.environ.get("MONEYPATH_STATE_DIR", ".moneypath")
    return "" if args.state_dir == default else f" --state-dir {args.state_dir}"


def _stack(args) -> int:
    from moneypath.stack import local as stack
    from moneypath.stack.counter_check import probe, probe_text
    from moneypath.stack.status import unanswered_targets

    state_dir = Path(args.state_dir)
    try:
        if args.command == "up":
            run = where.run_spec(args, {})  # the shape and the time factor: options, environment, run config
            if run.time_factor < 1:
                print("moneypath: --time-factor must be at least 1", file=sys.stderr)
                return ExitCode.USAGE
            spec = replace(run.stack, targets=tuple(args.target), fast=args.fast, time_factor=run.time_factor,
                           remote_write=tuple(where.value(args, "stack.remote_write")), faults=args.faults,
                           services=not (args.no_services or args.target),  # a --target is your service
                           db_url=args.db_url, target_wait_s=args.target_wait)
            state = stack.up(load_catalog(args.catalog), state_dir, spec)
            print(f"stack up: Prometheus {state.url('prometheus')}, Alertmanager {state.url('alertmanager')}, "
                  f"pages {state.url('pager')}/pages — stop with `moneypath down{_state_flag(args)}`")
            if spec.engine == "vm":
                print(f"engine vm: VictoriaMetrics answers the Prometheus API at {state.url('victoriametrics')}; "
                      f"vmalert {state.url('vmalert')} evaluates the rules")
            if spec.instances > 1 and state.service_urls():
                print(f"{spec.instances} instances of the reference service on one database: "
                      f"{', '.join(state.service_urls())}")
            if state.audit_checkpoints:
                print(f"audit checkpoints: the service signs its audit chain into {state.audit_checkpoints} (key "
                      f"{state.audit_key.removesuffix('.pub')}.key, made once); check the ledger against them: "
                      f"{state.audit_verify_command()}")
            if spec.ha:
                print(f"HA pair: Prometheus replica b {state.url('prometheus-b')}, Alertmanager peer "
                      f"{state.url('alertmanager-b')} (both Prometheus send to both Alertmanagers)")
            # A quiet misconfiguration otherwise: the stack runs, and scrapes nothing of the service. (Waiting for
            # the first scrapes, `up` has seen each answer.)
            for target, reason in unanswered_targets(args.target if not args.target_wait else []):
                print(f"warning: target {target} does not answer ({reason}): Prometheus keeps trying, but nothing "
                      "of it is scraped until it does; is the service running, and is --target its host:port?",
                      file=sys.stderr)
            for target in args.target:  # several workers behind one port, each its own counters
                if why := probe(target):
                    print(probe_text(target, why), file=sys.stderr)
            return 0
        if args.command == "down":
            if not stack.down(state_dir):
                print(f"nothing running from {state_dir} (a stack started with --state-dir DIR stops with "
                      "`moneypath down --state-dir DIR`)")
            return 0
        rows = stack.status(state_dir)
        if not rows:
            print(f"nothing running from {state_dir}")
            return ExitCode.FAIL
        for name, url, ok, detail in rows:
            print(f"{name:<15} {'up  ' if ok else 'DOWN'} {url:<28} {detail}")
        return 0 if all(ok for _, _, ok, _ in rows) else ExitCode.FAIL
    except stack.StackError as exc:
        print(f"moneypath: {exc}", file=sys.stderr)
        return ExitCode.FAIL
