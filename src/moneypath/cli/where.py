"""Where things run, declared once: the option group of the commands that reach a stack (up, drill run, loadtest,
capacity, demo, the canary drill), and the one typed spec (moneypath.stack.spec.RunSpec) built from the command
line, the environment and the run config (moneypath.formats.run_config) — in that order of precedence, each key
once (docs/decisions/0019-run-config-file.md).

`settings(args)` is the merged view (the file read once per command; RunConfigError, one line, for a bad one);
`fill(args, {dest: key})` gives an option left off the command line its environment's or file's value;
`run_spec(args)` is the spec every command that reaches a stack builds once and carries unchanged: `drill run` to
the placement, the runner and the canary stage; `up` to the stack; `loadtest` and `capacity` to their sessions
(their target options keep their own names: `run_spec(args, {name: dest})`). The top parser's
--prometheus: `prometheus_arg` marks a command that reads one, `default_prometheus` fills a required one.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from moneypath.formats import run_config
from moneypath.formats.run_config import RunConfigError

__all__ = ["RunConfigError", "Settings", "default_prometheus", "fill", "prometheus_arg", "run_spec", "settings",
           "shape_options", "target_options"]

# The target's URLs, each declared here once: `--target-<name>` (or the name a command has always used for it).
TARGETS = ("service", "prometheus", "alertmanager", "pager", "faultproxy", "providersim")  # run config target.<name>


def target_options(parser: argparse.ArgumentParser, names: tuple[str, ...] = tuple(TARGETS), *,
                   flags: Mapping[str, str] | None = None, url=str, db_url: bool = False,
                   time_factor: bool = False) -> None:
    """The target group: a URL option per name (dest target_<name>, flag --target-<name> unless `flags` renames
    it), and with db_url / time_factor the database the money checks read and the target's time factor. Left off,
    each comes from $MONEYPATH_TARGET_<NAME> or the run config's target.<name> (moneypath.run.yaml)."""
    group = parser.add_argument_group("where it runs (also from the environment and moneypath.run.yaml)")
    for name in (n for n in names if n != "prometheus"):  # the top parser's --prometheus (--target-prometheus)
        key = run_config.BY_NAME[f"target.{name}"]
        group.add_argument((flags or {}).get(name, f"--target-{name}"), dest=f"target_{name}", metavar="URL",
                           type=url, default=None, help=f"{key.help} (default: ${key.env}, else target.{name})")
    if db_url:
        group.add_argument("--db-url", metavar="URL", default=None,
                           help="the service's database the money checks read (SQLAlchemy URL; the catalog's "
                                "money_checks), opened read-only (default: $MONEYPATH_TARGET_DB_URL, else "
                                "target.db_url)")
    if time_factor:
        group.add_argument("--time-factor", type=float, default=None, metavar="F",
                           help="how much faster than production the target's rules run (default: "
                                "$MONEYPATH_TIME_FACTOR, else time_factor, else 1)")


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
    """The shape of a local stack, declared once: `up`'s options; every command that starts a stack (a drill's own,
    a load test's) reads the same keys from the environment and the run config (stack.engine, .ha, .instances,
    .postgres)."""
    parser.add_argument("--engine", choices=("prometheus", "vm"), default=None,
                        help="what runs the rules: prometheus (default), or vm: VictoriaMetrics stores the series and "
                             "answers queries, vmalert evaluates the same rule files (Debian package victoria-metrics)")
    parser.add_argument("--ha", action="store_true", default=None,
                        help="production's shape: two Prometheus replicas running the same rules (external label "
                             "replica=a|b, dropped from alerts) and a two-node Alertmanager cluster gossiping on "
                             "loopback; a page still arrives, once, with one of each gone")
    parser.add_argument("--instances", type=int, default=None, metavar="N",
                        help="run the reference service as N processes (1-16) sharing one ledger database, each its "
                             "own scrape target (label instance), as production runs a service: one page per incident "
                             "only if every rule aggregates instance away. Instance 0 alone runs reconciliation and "
                             "the audit check. On the default SQLite file the instances take turns at its write lock "
                             "(writers serialize); give --db-url for PostgreSQL (default: $MONEYPATH_INSTANCES, "
                             "else the run config's stack.instances, else 1)")
    parser.add_argument("--postgres", action="store_true", default=None,
                        help="start a throwaway PostgreSQL (Debian package postgresql) on loopback for the ledger "
                             "instead of the SQLite file: what several --instances share in production. Deleted by "
                             "`moneypath down`")


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


def fill(args: argparse.Namespace, dests: Mapping[str, str], defaults: Mapping[str, Any] | None = None) -> None:
    """Each attribute in `dests` (dest → run config key) the command line left None: the environment's or the
    file's value, else its default."""
    merged = settings(args)
    for dest, key in dests.items():
        setattr(args, dest, merged.get(key, getattr(args, dest, None), (defaults or {}).get(dest)))


TARGET_KEYS = {**{f"target_{n}": f"target.{n}" for n in TARGETS}, "db_url": "target.db_url",
               "time_factor": "time_factor", "target_instance": "target.instances",
               "probe_headroom": "target.probe_headroom", "target_shared": "target.shared"}
SHAPE_KEYS = {"engine": "stack.engine", "ha": "stack.ha", "instances": "stack.instances",
              "postgres": "stack.postgres"}
SHAPE_DEFAULTS = {"engine": "prometheus", "ha": False, "instances": 1, "postgres": False}


def run_spec(args: argparse.Namespace, targets: Mapping[str, str] | None = None, *, shape: bool = True):
    """The spec of where this command runs: its target (None URLs: a stack of its own), the local stack's shape, the
    time factor, the state directory. Filled from the environment and the run config where the command line left
    a value off.

    `targets` None: the command has the target group (`drill run`), filled onto `args` here. Else the command keeps
    its target in options of its own, already filled (the load test's --host, --prometheus, --providersim,
    --faultproxy; `up`: none): target name → dest. `shape` False: the command has no shape options of its own (an
    option of the same dest means something else, as `capacity --postgres URL`): the shape comes from the
    environment and the run config alone."""
    from moneypath.stack.spec import RunSpec, StackSpec, TargetSpec

    if targets is not None:
        merged = settings(args)
        given = (lambda dest: getattr(args, dest, None)) if shape else (lambda dest: None)
        value = {d: merged.get(k, given(d), SHAPE_DEFAULTS[d]) for d, k in SHAPE_KEYS.items()}
        stack = StackSpec(engine=value["engine"], ha=bool(value["ha"]), instances=int(value["instances"]),
                          postgres=bool(value["postgres"]), services=True, faults=True, fast=True)
        return RunSpec(target=TargetSpec(**{n: getattr(args, d, None) for n, d in targets.items()},
                                         shared=bool(merged.get("target.shared", None, False))), stack=stack,
                       time_factor=float(merged.get("time_factor", getattr(args, "time_factor", None), 1.0)),
                       state_dir=Path(merged.get("state_dir", getattr(args, "state_dir", None), ".moneypath")))
    fill(args, {k: v for k, v in TARGET_KEYS.items() if k != "target_prometheus"},
         {"time_factor": 1.0, "target_instance": [], "probe_headroom": False, "target_shared": False})
    fill(args, SHAPE_KEYS, SHAPE_DEFAULTS)
    fill(args, {"state_dir": "state_dir"}, {"state_dir": ".moneypath"})  # parsed without main: as main would
    args.target_prometheus = settings(args).get("target.prometheus", getattr(args, "prometheus", None))
    target = TargetSpec(**{n: getattr(args, f"target_{n}") for n in TARGETS}, db_url=args.db_url,
                        instances=tuple(args.target_instance or ()), probe_headroom=bool(args.probe_headroom),
                        shared=bool(args.target_shared))
    shape_spec = StackSpec(engine=args.engine, ha=bool(args.ha), instances=int(args.instances),
                           postgres=bool(args.postgres), services=True, faults=True, fast=True)
    return RunSpec(target=target, stack=shape_spec, time_factor=float(args.time_factor),
                   state_dir=Path(args.state_dir))
