"""Where things run, declared once: each setting is a key of the run config (moneypath.formats.run_config.KEYS) with
its environment variable, its default and, where a command takes it on the command line, its flag; `option(parser,
key)` declares that flag, and the command line, the environment and the run config give its value in that order
of precedence (docs/decisions/0019-run-config-file.md).

`settings(args)` is the merged view (the file read once per command; RunConfigError, one line, for a bad one);
`resolve(args)` (main calls it) gives every option a command declared with `option` its environment's, file's or
default value when the command line left it off; `value(args, key)` is any key's value for this command, declared
or not. `run_spec(args)` is the spec every command that reaches a stack builds once and carries unchanged: `drill
run` to the placement, the runner and the canary stage; `up` to the stack; `loadtest` and `capacity` to their
sessions (their target options keep their own names: `run_spec(args, {name: dest})`). The top parser's
--prometheus: `prometheus_arg` marks a command that reads one, `default_prometheus` fills a required one.
"""

from __future__ import annotations

import argparse
import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from moneypath.formats import run_config
from moneypath.formats.run_config import RunConfigError

__all__ = ["RunConfigError", "Settings", "default_prometheus", "option", "prometheus_arg", "resolve", "run_spec",
           "settings", "shape_options", "target_options", "value"]

# The target's URLs, each declared here once: `--target-<name>` (or the name a command has always used for it).
TARGETS = ("service", "prometheus", "alertmanager", "pager", "faultproxy", "providersim")  # run config target.<name>


def option(parser: argparse.ArgumentParser, name: str, *, flag: str | None = None, group=None, **kwargs) -> None:
    """Declare the run config key `name` as this command's option: its flag (the key's, or `flag` where a command
    has always called it otherwise), typed by the key's kind, its help from the key unless given. Left off the
    command line, `resolve` fills it from the environment, the run config or the key's default."""
    key = run_config.BY_NAME[name]
    flag = flag or key.flag
    if flag is None:
        raise ValueError(f"{name} has no flag: give one")
    dest = kwargs.pop("dest", None) or flag.lstrip("-").replace("-", "_")
    if key.kind == "bool":
        kwargs.setdefault("action", "store_true")
    else:
        kwargs.setdefault("type", {"url": url_arg, "float": float, "int": int}.get(key.kind, str))
        kwargs.setdefault("metavar", {"url": "URL", "float": "F", "int": "N"}.get(key.kind, "VALUE"))
    if "help" not in kwargs:
        fallback = "" if key.default in (None, False, []) else f", else {key.default:g}" \
            if isinstance(key.default, float) else f", else {key.default}"
        env = f"${key.env}, else " if key.env else ""
        kwargs["help"] = f"{key.help} (default: {env}{name} in moneypath.run.yaml{fallback})"
    (group or parser).add_argument(flag, dest=dest, default=None, **kwargs)
    parser.set_defaults(declared_settings=(*(parser.get_default("declared_settings") or ()), (name, dest)))


def url_arg(text: str) -> str:
    """argparse's type for a URL option: an http(s) URL with a host, without its trailing slash."""
    try:
        return run_config.http_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def resolve(args: argparse.Namespace) -> None:
    """Every option declared with `option` that the command line left off: the environment's, the run config's or
    the key's default value (RunConfigError for a bad run config). Idempotent."""
    for name, dest in getattr(args, "declared_settings", ()):
        setattr(args, dest, value(args, name))


def value(args: argparse.Namespace, name: str) -> Any:
    """The setting `name` for this command: its option's value when the command declares one and it was given,
    else the environment's, else the run config's, else the key's default."""
    given = next((getattr(args, dest, None) for key, dest in getattr(args, "declared_settings", ()) if key == name),
                 None)
    return settings(args).get(name, given, copy.copy(run_config.BY_NAME[name].default))


def target_options(parser: argparse.ArgumentParser, names: tuple[str, ...] = tuple(TARGETS), *,
                   db_url: bool = False, time_factor: bool = False) -> None:
    """The target group: a URL option per name (--target-<name>), and with db_url / time_factor the database the
    money checks read and the target's time factor. Left off, each comes from $MONEYPATH_TARGET_<NAME> or the run
    config's target.<name> (moneypath.run.yaml)."""
    group = parser.add_argument_group("where it runs (also from the environment and moneypath.run.yaml)")
    for name in (n for n in names if n != "prometheus"):  # the top parser's --prometheus (--target-prometheus)
        option(parser, f"target.{name}", group=group)
    if db_url:
        option(parser, "target.db_url", group=group, metavar="URL")
    if time_factor:
        option(parser, "time_factor", group=group)


def prometheus_arg(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """This command reads a Prometheus: --prometheus (the top parser's; `--target-prometheus` is the same option).
    required: left off, $MONEYPATH_TARGET_PROMETHEUS or the run config's target.prometheus, else exit 2."""
    parser.set_defaults(needs_prometheus="required" if required else "optional")


def default_prometheus(args: argparse.Namespace) -> str | None:
    """The problem (one line) when a command that requires a Prometheus has none from any source, else None."""
    need = getattr(args, "needs_prometheus", None)
    if need != "required":
        return None
    args.prometheus = settings(args).get("target.prometheus", args.prometheus)
    if args.prometheus:
        return None
    return (f"moneypath {args.command}: give --prometheus URL (or $MONEYPATH_TARGET_PROMETHEUS, or target.prometheus "
            "in moneypath.run.yaml)")


def shape_options(parser: argparse.ArgumentParser) -> None:
    """The shape of a local stack: `up`'s options; every command that starts a stack (a drill's own, a load test's)
    reads the same keys (stack.engine, .ha, .instances, .postgres) through `value`."""
    option(parser, "stack.engine", choices=("prometheus", "vm"), metavar=None,
           help="what runs the rules: prometheus (default), or vm: VictoriaMetrics stores the series and answers "
                "queries, vmalert evaluates the same rule files (Debian package victoria-metrics)")
    option(parser, "stack.ha",
           help="production's shape: two Prometheus replicas running the same rules (external label replica=a|b, "
                "dropped from alerts) and a two-node Alertmanager cluster gossiping on loopback; a page still "
                "arrives, once, with one of each gone")
    option(parser, "stack.instances",
           help="run the reference service as N processes (1-16) sharing one ledger database, each its own scrape "
                "target (label instance), as production runs a service: one page per incident only if every rule "
                "aggregates instance away. Instance 0 alone runs reconciliation and the audit check. On the "
                "default SQLite file the instances take turns at its write lock (writers serialize); give --db-url "
                "for PostgreSQL (default: $MONEYPATH_INSTANCES, else the run config's stack.instances, else 1)")
    option(parser, "stack.postgres",
           help="start a throwaway PostgreSQL (Debian package postgresql) on loopback for the ledger instead of the "
                "SQLite file: what several --instances share in production. Deleted by `moneypath down`")


class Settings:
    """The environment's and the run config's values of every run_config key (environment first)."""

    def __init__(self, file_values: dict[str, Any], env_values: dict[str, Any], path: Path | None,
                 lines: dict[str, str] | None = None):
        self.file, self.env, self.path, self.lines = file_values, env_values, path, lines or {}

    def located(self, key: str) -> str | None:
        """`file:line` of `key` when its value comes from the run config (not the environment), else None."""
        return self.lines.get(key) if key not in self.env else None

    def get(self, key: str, given: Any = None, default: Any = None) -> Any:
        """The command line's value when given, else the environment's, else the file's, else `default`."""
        if given is not None:
            return given
        for source in (self.env, self.file):
            if source.get(key) is not None:
                return source[key]
        return default


def settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """The merged settings of this command (read once, kept on `args`)."""
    cached = getattr(args, "_settings", None)
    if cached is not None:
        return cached
    environ = os.environ if environ is None else environ
    path = Path(args.config) if getattr(args, "config", None) else run_config.find(Path.cwd(), environ)
    if path is not None and not path.is_file():
        raise RunConfigError(f"{path}: run config not found")
    lines: dict[str, str] = {}
    made = Settings(run_config.read(path, lines) if path else {}, run_config.from_env(environ), path, lines)
    args._settings = made
    return made


def run_spec(args: argparse.Namespace, targets: Mapping[str, str] | None = None):
    """The spec of where this command runs: its target (None URLs: a stack of its own), the local stack's shape, the
    time factor, the state directory; each setting from the command line, the environment or the run config.

    `targets` None: the command has the target group (`drill run`). Else the command keeps its target in options
    of its own, already filled (the load test's --host, --prometheus, --providersim, --faultproxy; `up`: none):
    target name → dest."""
    from moneypath.stack.spec import RunSpec, StackSpec, TargetSpec

    resolve(args)  # a command parsed without main, as main would
    stack = StackSpec(engine=value(args, "stack.engine"), ha=bool(value(args, "stack.ha")),
                      instances=int(value(args, "stack.instances")), postgres=bool(value(args, "stack.postgres")),
                      services=True, faults=True, fast=True)
    shared = bool(value(args, "target.shared"))
    if targets is not None:
        target = TargetSpec(**{n: getattr(args, d, None) for n, d in targets.items()}, shared=shared)
    else:
        target = TargetSpec(**{n: value(args, f"target.{n}") for n in TARGETS if n != "prometheus"},
                            prometheus=settings(args).get("target.prometheus", getattr(args, "prometheus", None)),
                            db_url=value(args, "target.db_url"), instances=tuple(value(args, "target.instances")),
                            probe_headroom=bool(value(args, "target.probe_headroom")), shared=shared)
    return RunSpec(target=target, stack=stack, time_factor=float(value(args, "time_factor")),
                   state_dir=Path(settings(args).get("state_dir", getattr(args, "state_dir", None), ".moneypath")))
