"""Lint the generated alert and recording rules against the catalog.

`lint(catalog, root)` reads `alerts/moneypath-alerts.yaml` and `collector/recording-rules.yaml` under `root`
and returns one line per problem, ``path: alert-or-record-name: what is wrong`` (an empty list means clean).
A problem about a whole file uses ``(file)`` as the name. Expressions are checked with plain regexes: there
is no PromQL parser here, so the checks are deliberately conservative (string literals are blanked out
before looking for functions, groupings and ranges). The runbook pages are checked too
(`moneypath.check.runbooks.check_runbooks`, lines ``runbooks/x.md: key.path: what is wrong``), and so are the drill
files (`moneypath.check.drill_files.check_drill_files`, ``runbooks/drills/x.yaml: key.path: what is wrong``), the
scenario file (`check_scenario_file`, ``loadtests/scenarios.yaml: key.path: what is wrong``), and the labels and
values the committed dashboards match on (``dashboards/x.json: panel "Title": what is wrong``), and the catalog's
money-path map (`moneypath.check.map_lint`, ``moneypath.yaml:12: money_path.edges.3: what is wrong``). A label value is
checked whatever the matcher: `=`, `!=`, and each alternative of a `=~`/`!~` regex (`moneypath.catalog.matchers`).

`check_generated(catalog, retention)` is `moneypath catalog check`: the same rule checks (and promtool) on the
artifacts generated in memory, each problem as ``catalog:line: key.path: what is wrong`` (``alerts.<Key>.expr`` for a
custom alert), so a catalog that passes it builds and its rules lint clean.

`lint_verdict(problems, unmeasured)` is the lint's verdict (and `moneypath lint`'s exit code): the files' check
fails on a problem; the live check (`--prometheus`) is not measured when the server held nothing to judge.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import yaml

from moneypath._common import yamlio
from moneypath._common.verdict import Check, Verdict
from moneypath.catalog import Catalog, CatalogError
from moneypath.catalog import duration_seconds as parse_duration
from moneypath.catalog.conventions import WATCHDOG_ALERT, WATCHDOG_SEVERITY
from moneypath.catalog.yaml_errors import FILE
from moneypath.check.dashboards import dashboard_queries, panel_queries
from moneypath.check.drill_files import check_drill_files
from moneypath.check.instances import NO_PARSER, InstanceCheck, parser_available
from moneypath.check.ledger_queries import check_ledger_queries
from moneypath.check.map_lint import map_problems
from moneypath.check.promql import (
    GROUPING_LABELS,
    NO_PROMTOOL,
    check_expr,
    check_selectors,
    check_series,
    metric_index,
    recorded_labels,
    run_promtool,
)
from moneypath.check.runbooks import check_runbooks
from moneypath.formats import scenarios

ALERTS_FILE = "alerts/moneypath-alerts.yaml"
RECORDING_FILE = "collector/recording-rules.yaml"
FILES = (ALERTS_FILE, RECORDING_FILE)
SEVERITIES = ("page", "ticket")
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url", "dashboard_url")


def lint(catalog: Catalog, root: Path, retention: str = "15d", db_url: str | None = None) -> list[str]:
    """Every problem in the generated rule files under `root`, one line each, duplicates removed; runbook SQL is
    prepared on the database at `db_url` (`moneypath.check.runbooks.check_runbooks`), if one is given, and so are the
    catalog's ledger queries (`moneypath.check.ledger_queries`)."""
    root = Path(root)
    parse_duration(retention)
    problems: list[str] = []
    loaded: dict[str, list[dict]] = {}
    for rel in FILES:
        rules, error = load_rules(root / rel)
        if error:
            problems.append(f"{rel}: {FILE}: {error}")
        else:
            loaded[rel] = rules
    problems += [f"{rel}: {rule_name(rule, i)}: {what}"
                 for rel, i, rule, what in rule_problems(catalog, loaded, retention, root)]
    problems += run_promtool(root, list(loaded))
    if not parser_available():
        problems.append(f"{root}: {FILE}: {NO_PARSER}")
    problems += dashboard_problems(catalog, root)
    problems += check_runbooks(catalog, root, db_url=db_url)
    if db_url is not None:
        problems += check_ledger_queries(catalog, db_url)
    problems += check_drill_files(catalog, root)
    problems += check_scenario_file(catalog, root)
    problems += map_problems(catalog)
    return list(dict.fromkeys(problems))


def lint_verdict(problems: list[str], unmeasured: str | None = None) -> Verdict:
    """The lint's verdict: fail on any problem (rules, dashboards, runbooks, drill files, live metrics); not measured
    when none was found but the live check (`unmeasured`: why) judged nothing; else pass."""
    checks = [Check.judged("lint", not problems, f"{len(problems)} problem(s)" if problems else "")]
    if unmeasured:
        checks.append(Check.judged("live", None, unmeasured))
    return Verdict(tuple(checks))


def check_scenario_file(catalog: Catalog, root: Path) -> list[str]:
    """Every problem in the project's scenario file (loadtests/scenarios.yaml under `root`, if it has one), one line
    each, ``loadtests/scenarios.yaml: key.path: what is wrong``: what `moneypath loadtest` would refuse before a run
    (moneypath.formats.scenarios), all of it at once."""
    path = Path(root) / scenarios.SCENARIO_FILE
    if not path.is_file():
        return []
    return scenarios.problems(path, catalog, shown=scenarios.SCENARIO_FILE)[1]


# ---------------------------------------------------------------- reading


def load_rules(path: Path) -> tuple[list[dict], str | None]:
    """The rules of every group in a rule file, or an error message instead of a traceback."""
    try:
        doc = yamlio.load(path.read_text())
    except FileNotFoundError:
        return [], "file is missing"
    except (OSError, yaml.YAMLError) as e:
        return [], f"cannot be read as YAML: {' '.join(str(e).split())}"
    groups = doc.get("groups") if isinstance(doc, dict) else None
    if not isinstance(groups, list) or not all(isinstance(g, dict) and isinstance(g.get("rules"), list)
                                               for g in groups):
        return [], "expected 'groups:', a list of groups each with a list of 'rules:'"
    return [r if isinstance(r, dict) else {} for g in groups for r in g["rules"]], None


def rule_name(rule: dict, position: int) -> str:
    return str(rule.get("alert") or rule.get("record") or f"rule {position}")


# ---------------------------------------------------------------- checks


def rule_problems(catalog: Catalog, loaded: dict[str, list[dict]], retention: str,
                  root: Path | None) -> list[tuple[str, int, dict, str]]:
    """(file, position, rule, what is wrong) for each problem the text checks find in the rules (all but
    promtool): series, labels and values from the catalog or a recording rule, rate() on counters, ranges within
    retention, an alert's severity and annotations and, unless `root` is None, its runbook page."""
    limit = parse_duration(retention)
    every_rule = [r for rules in loaded.values() for r in rules]
    metrics = metric_index(catalog)
    records = {str(r["record"]) for r in every_rule if "record" in r}
    known_labels = GROUPING_LABELS | {label for s in catalog.signals.values() for label in s.labels}
    known_labels |= recorded_labels(every_rule)
    instances = InstanceCheck(catalog, every_rule)
    found = []
    for rel, rules in loaded.items():
        for i, rule in enumerate(rules, 1):
            expr = str(rule.get("expr", ""))
            whats = check_alert(rule, root) if "alert" in rule else []
            whats += check_series(expr, metrics, records)
            whats += check_expr(expr, metrics, known_labels, retention, limit)
            whats += instances.alert(expr) if "alert" in rule else instances.aggregations(expr)
            found += [(rel, i, rule, what) for what in whats]
    return found


def check_alert(rule: dict, root: Path | None) -> list[str]:
    """(a) severity and annotations present, (b) the runbook page exists (not looked for when `root` is None)."""
    labels = rule.get("labels") if isinstance(rule.get("labels"), dict) else {}
    annotations = rule.get("annotations") if isinstance(rule.get("annotations"), dict) else {}
    found = []
    heartbeat = str(rule.get("alert", "")).endswith(WATCHDOG_ALERT) and labels.get("severity") == WATCHDOG_SEVERITY
    if labels.get("severity") not in SEVERITIES and not heartbeat:
        found.append(f"severity {labels.get('severity')!r} is not one of {', '.join(SEVERITIES)} "
                     f"({WATCHDOG_SEVERITY} is the {WATCHDOG_ALERT}'s alone)")
    for key in REQUIRED_ANNOTATIONS:
        value = annotations.get(key)
        if not isinstance(value, str) or not value.strip():
            found.append(f"annotation {key} is missing or empty")
    url = annotations.get("runbook_url")
    if isinstance(url, str) and url.strip():
        page = PurePosixPath(urlsplit(url).path).name
        if not page:
            found.append(f"runbook_url {url} names no file")
        elif root is not None and not (root / "runbooks" / page).is_file():
            found.append(f"missing runbook runbooks/{page}")
    return found




def dashboard_problems(catalog: Catalog, root: Path) -> list[str]:
    """Labels and label values the committed dashboards' queries match on, against the catalog."""
    queries, problems = dashboard_queries(root)
    metrics = metric_index(catalog)
    instances = InstanceCheck(catalog, _recording(root))
    return problems + [f"{where}: {what}" for where, expr in queries
                       for what in check_selectors(expr, metrics) + instances.aggregations(expr)]


def _recording(root: Path) -> list[dict]:
    rules, _ = load_rules(root / RECORDING_FILE)  # its own problems are the rule lint's
    return rules


# ---------------------------------------------------------------- `moneypath catalog check`


@dataclass
class GeneratedCheck:
    """What `check_generated` found: problems (``catalog: key.path: what is wrong``), the alerts whose runbook page
    does not exist yet, how many alerts there are, and whether promtool parsed the rules (False: not installed)."""

    problems: list[str] = field(default_factory=list)
    alerts_without_page: list[str] = field(default_factory=list)
    alerts: int = 0
    promtool: bool = True
    instances: bool = True  # False: promql-parser is missing, instance aggregation was not checked
    dashboards: bool = True  # False: the tools extra is not installed, dashboards were not generated


def check_generated(catalog: Catalog, retention: str) -> GeneratedCheck:
    """What `moneypath build` and the rule and dashboard parts of `moneypath lint` would find, on the artifacts
    generated in memory (promtool reads the rule files from a temporary directory), so a catalog that passes cannot
    fail to build or lint.
    Each problem names what in the catalog to change: ``alerts.<Key>.expr`` for an alert with its own expression,
    ``alerts.<Key>`` or ``slos.<key>`` for a generated rule. Runbook pages are the team's own files, under runbooks/
    beside the catalog: the alerts without one are listed, not reported as problems. Raises CatalogError when the
    library cannot bind to the catalog (`moneypath.instrument._requirements.check_required`)."""
    from moneypath.generate import build

    where = catalog.path
    result = GeneratedCheck()
    try:
        texts = build.rule_artifacts(catalog)
    except CatalogError:
        raise
    except Exception as exc:  # noqa: BLE001 - `build` would fail: say so in one line
        result.problems.append(f"{where}: (build): the rules cannot be generated: {type(exc).__name__}: {exc}")
        return result
    try:
        import moneypath.generate.dashboards  # noqa: F401 - needs the tools extra (grafana-foundation-sdk)
    except ModuleNotFoundError:
        result.dashboards = False
    else:
        try:
            boards = build.dashboard_artifacts(catalog)
        except Exception as exc:  # noqa: BLE001 - `build` would fail: say so in one line
            result.problems.append(f"{where}: (build): the dashboards cannot be generated: {type(exc).__name__}: {exc}")
        else:  # what the lint checks in the committed dashboards, so they lint clean once built
            metrics = metric_index(catalog)
            instances = InstanceCheck(catalog, [])  # recorded series carry nothing: the rules are checked below
            result.problems += [f"{where}: (generated) {at}: {what}"
                                for rel, text in boards.items() if rel.startswith("dashboards/") and rel.endswith(".json")
                                for at, expr in panel_queries(rel, json.loads(text))
                                for what in check_selectors(expr, metrics) + instances.aggregations(expr)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        loaded: dict[str, list[dict]] = {}
        for rel in FILES:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(texts[rel], encoding="utf-8")
            rules, error = load_rules(root / rel)
            if error:
                result.problems.append(f"{where}: (build): {rel}: {error}")
            else:
                loaded[rel] = rules
        owners: dict[str, str] = {}
        for rules in loaded.values():
            for i, rule in enumerate(rules, 1):
                owners.setdefault(rule_name(rule, i), _owner(catalog, rule, rule_name(rule, i)))
        for _, i, rule, what in rule_problems(catalog, loaded, retention, None):
            owner = _owner(catalog, rule, rule_name(rule, i))
            result.problems.append(f"{_located(catalog, owner)}: {owner}: {what}")
        for line in run_promtool(root, list(loaded)):
            if NO_PROMTOOL in line:
                result.promtool = False
                continue
            rel, name, what = (line.split(": ", 2) + ["", ""])[:3]
            owner = owners.get(name, f"(build): {rel}" if name == FILE else f"(generated) {name}")
            result.problems.append(f"{_located(catalog, owner)}: {owner}: {what}")
    pages = Path(where).parent / "runbooks"
    alerts = {str(r["alert"]): r for r in loaded.get(ALERTS_FILE, []) if "alert" in r}
    result.alerts = len(alerts)
    for name, rule in alerts.items():
        url = (rule.get("annotations") or {}).get("runbook_url", "")
        page = PurePosixPath(urlsplit(str(url)).path).name
        if page and not (pages / page).is_file():
            result.alerts_without_page.append(name)
    result.instances = parser_available()
    result.problems = list(dict.fromkeys(result.problems))
    return result


def _located(catalog: Catalog, owner: str) -> str:
    """``file:line`` of the catalog entry a problem names (the file alone for a generated rule)."""
    return catalog.path if owner.startswith("(") else catalog.located(*owner.split("."))


def _owner(catalog: Catalog, rule: dict, name: str) -> str:
    """The catalog key path a generated rule comes from."""
    labels = rule.get("labels") if isinstance(rule.get("labels"), dict) else {}
    if "alert" in rule:
        for key, alert in catalog.alerts.items():
            if catalog.alert_name(key) == name:
                return f"alerts.{key}.expr" if alert.expr is not None else f"alerts.{key}"
    if labels.get("slo") in catalog.slos:
        return f"slos.{labels['slo']}"
    return f"(generated) {name}"
