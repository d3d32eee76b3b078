"""The run config, `moneypath.run.yaml`: where things run (target, Prometheus, pager, time factor, the local stack's
shape, the drill history's signing, the game day's schedule), written once by a team beside its catalog.

KEYS is every key the file may hold: its dotted name, its type, the environment variable that overrides it and what
it means (docs/configuration.md lists them; docs/decisions/0019-run-config-file.md says why a file of its own).
`read(path)` returns {dotted key: value}; a wrong key or value raises RunConfigError, one line naming the file, the
line and the key. `from_env(environ)` reads the same keys from the environment. Precedence (command line, then the
environment, then the file, then the default) is the caller's: moneypath.cli.where.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from moneypath._common import yamlio
from moneypath.catalog.load import key_lines
from moneypath.catalog.matchers import did_you_mean
from moneypath.catalog.model import nearest_line
from moneypath.catalog.yaml_errors import error_line, error_text

FILENAME = "moneypath.run.yaml"
ENV_FILE = "MONEYPATH_CONFIG"


class RunConfigError(Exception):
    """The run config cannot be used; the message is one line (file, line, key)."""


@dataclass(frozen=True)
class ConfigKey:
    """A setting, declared once: its key here, its environment variable, and the command-line flag that gives it
    where a command has one (moneypath.cli.where.option declares the flag from this; `default` when none gives
    it)."""

    name: str  # dotted: target.service
    kind: str  # str, url, float, int, bool, list (of str)
    env: str | None
    help: str
    flag: str | None = None
    default: Any = None


KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("state_dir", "str", "MONEYPATH_STATE_DIR", "where the local stack keeps its config, data, logs (default "
              ".moneypath)"),
    ConfigKey("time_factor", "float", "MONEYPATH_TIME_FACTOR", "how much faster than production the target's rules run "
              "(1: the committed rules; the local drill stack: 60)", "--time-factor", 1.0),
    *(ConfigKey(f"target.{n}", "url", f"MONEYPATH_TARGET_{n.upper()}", f"base URL of the {what}",
                None if n == "prometheus" else f"--target-{n}") for n, what in (  # --prometheus: the top parser's
        ("service", "payment service (reference or your own)"), ("prometheus", "Prometheus that scrapes the service"),
        ("alertmanager", "Alertmanager (pages, when there is no pager)"), ("pager", "moneypath pager (GET /pages)"),
        ("faultproxy", "fault proxy between the service and its providers (fault.where: faultproxy)"),
        ("providersim", "provider simulator (simulator faults)"))),
    ConfigKey("target.instances", "list", "MONEYPATH_TARGET_INSTANCES", "the service's other instances (URLs; the "
              "environment's comma-separated): a drill's payments are spread over all of them", default=[]),
    ConfigKey("target.db_url", "str", "MONEYPATH_TARGET_DB_URL", "the service's database the drill's money checks read "
              "(SQLAlchemy URL; the catalog's money_checks), opened read-only", "--db-url"),
    ConfigKey("target.probe_headroom", "bool", "MONEYPATH_PROBE_HEADROOM", "probe the target before a drill's peak that "
              "declares headroom (always on for a stack a drill starts)", default=False),
    ConfigKey("target.shared", "bool", "MONEYPATH_TARGET_SHARED", "the target serves traffic of its own (staging): a run's "
              "conservation of counts is one-sided, counted >= acknowledged, and cannot see double counting",
              default=False),
    ConfigKey("stack.engine", "str", "MONEYPATH_ENGINE", "what runs the rules of a local stack: prometheus or vm",
              "--engine", "prometheus"),
    ConfigKey("stack.ha", "bool", "MONEYPATH_HA", "a local stack of two Prometheus replicas and a two-node Alertmanager "
              "cluster (`moneypath up --ha`; drills with replica_down need it)", "--ha", False),
    ConfigKey("stack.instances", "int", "MONEYPATH_INSTANCES", "reference service processes on one database",
              "--instances", 1),
    ConfigKey("stack.postgres", "bool", "MONEYPATH_POSTGRES", "keep the reference service's ledger in a throwaway "
              "PostgreSQL", "--postgres", False),
    ConfigKey("stack.remote_write", "list", "MONEYPATH_REMOTE_WRITE", "URLs that receive every scraped and recorded series",
              default=[]),
    ConfigKey("stack.target_wait", "float", "MONEYPATH_TARGET_WAIT", "seconds `up` holds the alert rules waiting for each "
              "--target's first scrape (0: rules on at once; default 120)", "--target-wait", 120.0),
    ConfigKey("history.dir", "str", "MONEYPATH_HISTORY", "the drill history directory (default: drill-history/ beside "
              "the catalog)"),
    ConfigKey("history.environment", "str", "MONEYPATH_ENVIRONMENT", "the environment a drill record names (default "
              "local)"),
    ConfigKey("history.checkpoints", "str", "MONEYPATH_HISTORY_CHECKPOINTS", "sign the history's head into this "
              "directory after each record (with history.signing_key)", "--checkpoints"),
    ConfigKey("history.signing_key", "str", "MONEYPATH_HISTORY_SIGNING_KEY", "the signer key (`moneypath audit keygen`)",
              "--signing-key"),
    ConfigKey("loadtest.token", "str", "MONEYPATH_TOKEN", "the API bearer token a load test sends (better in the "
              "environment than in a file)"),
    ConfigKey("loadtest.no_auth", "bool", None, "the service takes no API token", default=False),
    ConfigKey("loadtest.p99_tolerance", "float", None, "allowed p99 increase over --baseline, percent (default 20)",
              default=20.0),
    ConfigKey("loadtest.rps_tolerance", "float", None, "allowed throughput decrease from --baseline, percent "
              "(default 10)", default=10.0),
    ConfigKey("capacity.postgres", "str", None, "also measure the service on this PostgreSQL database "
              "(postgresql+psycopg://...)", "--postgres"),
    ConfigKey("capacity.postgres_workers", "int", None, "service processes of that PostgreSQL run (default 2)",
              default=2),
    ConfigKey("capacity.service_pids", "list", None, "your service's processes on this machine, whose CPU names the limit",
              default=[]),
    *(ConfigKey(f"gameday.{n}", kind, None, what, default=default) for n, kind, what, default in (
        ("schedule", "str", "the game day CronJob's schedule (cron; default 0 10 * * 2)", None),
        ("environment", "str", "the environment it drills (default staging)", None),
        ("drills", "list", "its drill files (default: the catalog's drills with a load and a fault)", []),
        ("image", "str", "the image that runs moneypath", None),
        ("halt_burn", "list", "halt conditions SLO=FACTOR", []),
        ("halt_alert", "list", "halt conditions: catalog alert names", []),
        ("history_claim", "str", "the drill history's PersistentVolumeClaim", None),
        ("time_zone", "str", "the schedule's time zone", "Etc/UTC")))
)
BY_NAME = {k.name: k for k in KEYS}
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def find(start: str | Path, environ: Mapping[str, str]) -> Path | None:
    """The run config: $MONEYPATH_CONFIG, else the nearest moneypath.run.yaml in `start` or above it, up to the
    repository root (as the catalog is found); None when there is none."""
    if environ.get(ENV_FILE):
        return Path(environ[ENV_FILE])
    here = Path(start).resolve()
    for directory in (here, *here.parents):
        if (directory / FILENAME).is_file():
            return directory / FILENAME
        if (directory / ".git").exists():
            return None
    return None


def read(path: Path, located: dict[str, str] | None = None) -> dict[str, Any]:
    """{dotted key: value} of the file; RunConfigError naming file, line and key for what it cannot hold. With
    `located`, each key's `file:line` is put there (for a value the file holds that a command refuses later)."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunConfigError(f"{where}: cannot read the run config: {exc.strerror or exc}") from None
    try:
        data = yamlio.load(text)
        lines = key_lines(text)
    except yaml.YAMLError as exc:
        line = error_line(exc)
        raise RunConfigError(f"{where}{f':{line}' if line else ''}: YAML syntax error: {error_text(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RunConfigError(f"{where}:1: the run config is a mapping of keys (docs/configuration.md)")
    out: dict[str, Any] = {}
    _walk(data, (), out, where, lines)
    if located is not None:
        located.update({k: f"{where}:{nearest_line(lines, tuple(k.split('.'))) or 1}" for k in out})
    return out


def _walk(node: dict, path: tuple, out: dict, where: str, lines: dict) -> None:
    for key, value in node.items():
        loc = (*path, key)
        name = ".".join(str(p) for p in loc)
        at = f"{where}:{nearest_line(lines, loc) or 1}: {name}"
        if isinstance(value, dict) and any(k.name.startswith(name + ".") for k in KEYS):
            _walk(value, loc, out, where, lines)
            continue
        key_spec = BY_NAME.get(name)
        if key_spec is None:
            known = sorted({k.name.split(".")[0] for k in KEYS} if not path else
                           {k.name for k in KEYS if k.name.startswith(f"{path[0]}.")})
            hint = did_you_mean(name, known, cutoff=0.8)
            raise RunConfigError(f"{at}: unknown key{hint or ''} (known: {', '.join(known)})")
        try:
            out[name] = convert(key_spec, value)
        except ValueError as exc:
            raise RunConfigError(f"{at}: {exc}") from None


def convert(key: ConfigKey, value: Any) -> Any:
    """`value` as `key`'s type (ValueError saying what it should be); strings as the environment gives them."""
    if value is None:
        return None
    kind = key.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
            return value.strip().lower() in TRUE
        raise ValueError(f"{value!r} is not true or false")
    if kind in ("float", "int"):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        try:
            number = float(value) if kind == "float" else int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not {'a number' if kind == 'float' else 'a whole number'}") from None
        if number < 0 or (number == 0 and key.name != "stack.target_wait"):
            raise ValueError(f"{value!r} must be more than 0")
        return number
    if kind == "list":
        items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str | int) for v in items):
            raise ValueError(f"{value!r} is not a list of strings")
        return [str(v) for v in items]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{value!r} is not a non-empty string")
    return http_url(value) if kind == "url" else value


def http_url(value: str) -> str:
    """An http(s) URL with a host, without its trailing slash; ValueError (the one line a user sees) otherwise. Every
    URL a command is given goes through here: the run config's, the environment's and the command line's."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http(s):// URL")
    return value.rstrip("/")


def from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """{dotted key: value} of the keys the environment sets (an empty variable sets nothing); RunConfigError
    naming the variable for a value its key cannot hold."""
    out = {}
    for key in KEYS:
        raw = environ.get(key.env) if key.env else None
        if raw is None or raw == "":
            continue
        try:
            out[key.name] = convert(key, raw)
        except ValueError as exc:
            raise RunConfigError(f"${key.env} ({key.name}): {exc}") from None
    return out
