"""`moneypath …` command line: the top parser, the options many commands share, and how every error ends.

Each command group lives in its own module (parse, call, print) whose add_commands(commands, catalog_arg,
state_arg) registers its subparsers with set_defaults(run=handler); catalog_arg and state_arg mark a command that
reads the catalog or a stack's state (--catalog, --state-dir and --config are the top parser's, see TOP_OPTIONS;
where things run: moneypath.cli.where). Errors are one line on stderr and a non-zero
exit, never a traceback (MONEYPATH_DEBUG=1 shows it).

The shared modules:
where (where things run: the option group and the run spec),
extras (which extra a command needs, and the message when it is missing),
closed_stdout (a stdout closed early never changes the exit code).

The command groups' modules:
catalog (`catalog check|show`),
build (`build [--check]`),
lint (`lint`, with --prometheus against a live one),
export and export_loadtest (`export <platform>`, and `export loadtest` for Kubernetes),
metrics (`metrics sample`),
slo (`slo export|import`: OpenSLO),
init (`init DIR`: a team's own project),
stack (`up|down|status`: the local stack),
dashboards (`dashboards push` into a Grafana),
snapshot (`snapshot`: the overview dashboard as PNGs and a page),
pager (`pager`: the webhook receiver that records pages),
faultproxy (`faultproxy`: the fault proxy),
token (`token`: a short-lived API token),
map (`map`: the money-path map, live with --prometheus),
drill (`drill run|check|report`),
canary_drill (`drill run` for canary drill files),
demo (`demo`: every drill end to end),
loadtest (`loadtest SCENARIO` and `capacity`),
loadtest_worker (`loadtest-worker`: a distributed load test's worker),
canary (`canary judge|serve`),
alerts (`alerts backtest`),
history (`history list|verify|checkpoint`: the drill history),
readiness (`readiness` and `readiness serve`),
evidence (`evidence` and `evidence verify`: the auditor's pack),
incident (`incident classify|clock`: DORA's classification and clocks),
audit (`audit`: the audit trail's chain and checkpoints).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from moneypath import __version__
from moneypath._common.exit_codes import ExitCode
from moneypath._common.interrupt import Terminated, terminate_as_interrupt
from moneypath.catalog import DEFAULT_PATH, CatalogError, find_catalog
from moneypath.cli import extras
from moneypath.cli.closed_stdout import guarded_stdout
from moneypath.cli.where import default_prometheus, resolve
from moneypath.formats.run_config import RunConfigError, http_url

# The options nearly every command shares, declared once on the top parser: `moneypath [--catalog PATH]
# [--state-dir DIR] [--config FILE] COMMAND ...`; given after the command (`moneypath lint --catalog x`), they are
# moved before it (TOP_OPTIONS, _hoisted).
TOP_OPTIONS = ("--catalog", "--state-dir", "--config", "--history", "--prometheus")
ALIASES = {"--target-prometheus": "--prometheus"}  # drill run's name for it
STATE_DEFAULT = ".moneypath"


def _catalog_arg(parser: argparse.ArgumentParser) -> None:
    """This command reads the catalog: --catalog (the top parser's) when given, else the one found for it."""
    parser.set_defaults(default_catalog=True)


def _default_catalog(args: argparse.Namespace) -> None:
    """--catalog when not given: the environment's, else the project's under --root, else the nearest moneypath.yaml
    from the first file's directory (drills in ops/runbooks/drills/ find ops/moneypath.yaml) or the current one."""
    if not getattr(args, "default_catalog", False) or args.catalog is not None:
        return
    root = getattr(args, "root", None)
    if os.environ.get("MONEYPATH_CATALOG"):
        args.catalog = os.environ["MONEYPATH_CATALOG"]
    elif root is not None:  # a project root: its catalog, and no other
        args.catalog = str(Path(root) / DEFAULT_PATH) if root != "." else DEFAULT_PATH
    else:
        files = getattr(args, "files", None) or []
        start = Path(files[0]).parent if files else Path.cwd()
        found = find_catalog(start)
        if found is None:
            args.catalog, args.catalog_searched = DEFAULT_PATH, start
        else:
            args.catalog = os.path.relpath(found) if found.is_relative_to(Path.cwd()) else str(found)


def _state_arg(parser: argparse.ArgumentParser, default: str | None = STATE_DEFAULT) -> None:
    """This command keeps or finds a stack in --state-dir (the top parser's); left off: $MONEYPATH_STATE_DIR, else
    the run config's state_dir, else `default` (None: the command decides)."""
    parser.set_defaults(state_default=default)


def _default_state_dir(args: argparse.Namespace) -> None:
    if getattr(args, "state_dir", None) is not None or "state_default" not in vars(args):
        return
    if args.state_default is None:  # the command reads the environment itself (`token`)
        return
    from moneypath.cli.where import settings

    args.state_dir = settings(args).get("state_dir", None, args.state_default) \
        if args.state_default == STATE_DEFAULT else args.state_default


def _hoisted(argv: list[str]) -> list[str]:
    """argv with the top options given after the command moved before it (up to a `--`)."""
    front, rest, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        name = arg.split("=", 1)[0]
        if name in ALIASES:
            arg, name = ALIASES[name] + arg[len(name):], ALIASES[name]
        if name in TOP_OPTIONS:
            take = 1 if "=" in arg else 2
            front += [arg, *argv[i + 1:i + take]]
            i += take
            continue
        rest.append(arg)
        i += 1
    return front + rest


class _Parser(argparse.ArgumentParser):
    def parse_known_args(self, args=None, namespace=None):
        return super().parse_known_args(_hoisted(list(sys.argv[1:] if args is None else args)), namespace)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="moneypath",
        description="Observability and incident readiness for the money path of a payments platform.",
    )
    parser.add_argument("--version", action="version", version=f"moneypath {__version__}")
    parser.add_argument("--catalog", metavar="PATH", default=None,
                        help="catalog file (default: $MONEYPATH_CATALOG, else moneypath.yaml in --root if the "
                             "command has one, else the nearest moneypath.yaml in the first FILE's directory (or "
                             "the current one) or above it, up to the repository root)")
    parser.add_argument("--state-dir", metavar="DIR", default=None,
                        help="where the stack keeps config, data, logs and stack.json (default: $MONEYPATH_STATE_DIR, "
                             "else the run config's state_dir, else .moneypath; `demo`: .moneypath/demo)")
    from moneypath.cli.history import HISTORY_HELP

    parser.add_argument("--history", metavar="DIR", default=None,
                        help=HISTORY_HELP.rstrip(")") + "; `demo` records only when it is given)")
    parser.add_argument("--prometheus", "--target-prometheus", metavar="URL", default=None,
                        help="the Prometheus to read (that scrapes the service); `lint` checks the metrics there, "
                             "`loadtest` and `capacity` judge the service-side gates by it (default: the stack's), "
                             "`alerts backtest`, `incident classify`, `canary` need one, `drill run` drills it (with "
                             "--target-service). Left off where a command needs one: $MONEYPATH_TARGET_PROMETHEUS, "
                             "else the run config's target.prometheus")
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="the run config: where things run (default: $MONEYPATH_CONFIG, else the nearest "
                             "moneypath.run.yaml here or above, up to the repository root; docs/configuration.md)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    from moneypath.cli import (
        alerts,
        audit,
        build,
        canary,
        catalog,
        dashboards,
        demo,
        drill,
        evidence,
        export,
        faultproxy,
        history,
        incident,
        init,
        lint,
        loadtest,
        loadtest_worker,
        metrics,
        pager,
        readiness,
        slo,
        snapshot,
        stack,
        token,
    )
    from moneypath.cli import map as map_command

    # In the order `moneypath --help` lists them.
    for module in (catalog, build, lint, stack, pager, demo, metrics, dashboards, snapshot, loadtest, loadtest_worker,
                   drill, init, faultproxy, token, alerts, slo, audit, history, readiness, incident, evidence, canary,
                   export, map_command):
        module.add_commands(commands, _catalog_arg, _state_arg)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _default_catalog(args)
    try:
        _default_state_dir(args)
        resolve(args)  # every option declared with its run config key: the environment's or the file's value
        missing = default_prometheus(args)
    except RunConfigError as exc:
        print(f"moneypath: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if missing:
        print(missing, file=sys.stderr)
        return ExitCode.USAGE
    if problem := _bad_prometheus(args):
        print(problem, file=sys.stderr)
        return ExitCode.USAGE
    if problem := extras.missing(args):
        print(problem, file=sys.stderr)
        return ExitCode.USAGE
    with guarded_stdout():  # a reader that closed stdout early (`| head -1`) changes no exit code
        return _run(args)


def _bad_prometheus(args: argparse.Namespace) -> str | None:
    """One line when --prometheus (or the value filled in for it) is no http(s) URL: bad usage for every command,
    while a well-formed URL that does not answer is the command's to judge (not measured)."""
    if not getattr(args, "prometheus", None):
        return None
    try:
        args.prometheus = http_url(args.prometheus)
    except ValueError as exc:
        return f"moneypath {args.command}: --prometheus: {exc}"
    return None


def _run(args: argparse.Namespace) -> int:
    """The command, and how each error ends: one line and its exit code."""
    try:
        with terminate_as_interrupt():  # SIGTERM (CI, systemd, timeout) cleans up as Ctrl-C does
            return args.run(args)  # every command module sets run=handler
    except CatalogError as exc:
        searched = getattr(args, "catalog_searched", None)
        if searched is not None and exc.problems == [f"{args.catalog}: file not found"]:
            exc.problems = [f"{DEFAULT_PATH}: file not found in {searched} or any directory above it (up to the "
                            "repository root); give --catalog PATH or set MONEYPATH_CATALOG"]
        for line in exc.problems:
            print(line, file=sys.stderr)
        return ExitCode.NOT_MEASURED  # a catalog that does not load: nothing could be judged
    except RunConfigError as exc:  # moneypath.run.yaml or the environment: file, line and key
        print(f"moneypath: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except ModuleNotFoundError as exc:
        if os.environ.get("MONEYPATH_DEBUG"):
            raise
        extra = extras.extra_of(exc.name or "")
        if extra is None:  # not ours to install (e.g. a database driver a --db-url names): one line
            print(f"moneypath: ModuleNotFoundError: {exc}", file=sys.stderr)
            return ExitCode.FAIL
        print(extras.message(args.command, extra, exc.name), file=sys.stderr)
        return ExitCode.USAGE
    except Terminated:
        print("moneypath: terminated (SIGTERM)", file=sys.stderr)
        return ExitCode.TERMINATED
    except KeyboardInterrupt:
        print("moneypath: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (MONEYPATH_DEBUG=1 shows it)
        if os.environ.get("MONEYPATH_DEBUG"):
            raise
        print(f"moneypath: {type(exc).__name__}: {exc}", file=sys.stderr)
        return ExitCode.FAIL


if __name__ == "__main__":
    sys.exit(main())
