"""Lint the generated alert and recording rules against the catalog.

`lint(catalog, root)` reads `alerts/moneypath-alerts.yaml` and `collector/recording-rules.yaml` under `root`
and returns one line per problem, ``path: alert-or-record-name: what is wrong`` (an empty list means clean).
A problem about a whole file uses ``(file)`` as the name. Expressions are checked with plain regexes: there
is no PromQL parser here, so the checks are deliberately conservative (string literals are blanked out
before looking for functions, groupings and ranges). The runbook pages are checked too
(`moneypath.check.runbooks.check_runbooks`, lines ``runbooks/x.md: key.path: what is wrong``), and so are the drill
files (`moneypath.check.drill_files.check_drill_files`, ``runbooks/drills/x.yaml: key.path: what is wrong``).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import yaml

from moneypath.catalog import Catalog
from moneypath.catalog import duration_seconds as parse_duration
from moneypath.check.drill_files import check_drill_files
from moneypath.check.promql import (
    FILE,
    GROUPING_LABELS,
    check_expr,
    metric_index,
    recorded_labels,
    run_promtool,
)
from moneypath.check.runbooks import check_runbooks

ALERTS_FILE = "alerts/moneypath-alerts.yaml"
RECORDING_FILE = "collector/recording-rules.yaml"
FILES = (ALERTS_FILE, RECORDING_FILE)
SEVERITIES = ("page", "ticket")
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url", "dashboard_url")


def lint(catalog: Catalog, root: Path, retention: str = "15d") -> list[str]:
    """Every problem in the generated rule files under `root`, one line each, duplicates removed."""
    root = Path(root)
    limit = parse_duration(retention)
    problems: list[str] = []
    loaded: dict[str, list[dict]] = {}
    for rel in FILES:
        rules, error = load_rules(root / rel)
        if error:
            problems.append(f"{rel}: {FILE}: {error}")
        else:
            loaded[rel] = rules
    metrics = metric_index(catalog)
    known_labels = GROUPING_LABELS | {label for s in catalog.signals.values() for label in s.labels}
    known_labels |= recorded_labels([r for rules in loaded.values() for r in rules])
    for rel, rules in loaded.items():
        for i, rule in enumerate(rules, 1):
            name = rule_name(rule, i)
            found = check_alert(rule, root) if "alert" in rule else []
            found += check_expr(str(rule.get("expr", "")), metrics, known_labels, retention, limit)
            problems += [f"{rel}: {name}: {what}" for what in found]
    problems += run_promtool(root, list(loaded))
    problems += check_runbooks(catalog, root)
    problems += check_drill_files(catalog, root)
    return list(dict.fromkeys(problems))


# ---------------------------------------------------------------- reading


def load_rules(path: Path) -> tuple[list[dict], str | None]:
    """The rules of every group in a rule file, or an error message instead of a traceback."""
    try:
        doc = yaml.safe_load(path.read_text())
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


def check_alert(rule: dict, root: Path) -> list[str]:
    """(a) severity and annotations present, (b) the runbook page exists."""
    labels = rule.get("labels") if isinstance(rule.get("labels"), dict) else {}
    annotations = rule.get("annotations") if isinstance(rule.get("annotations"), dict) else {}
    found = []
    if labels.get("severity") not in SEVERITIES:
        found.append(f"severity {labels.get('severity')!r} is not one of {', '.join(SEVERITIES)}")
    for key in REQUIRED_ANNOTATIONS:
        value = annotations.get(key)
        if not isinstance(value, str) or not value.strip():
            found.append(f"annotation {key} is missing or empty")
    url = annotations.get("runbook_url")
    if isinstance(url, str) and url.strip():
        page = PurePosixPath(urlsplit(url).path).name
        if not page:
            found.append(f"runbook_url {url} names no file")
        elif not (root / "runbooks" / page).is_file():
            found.append(f"missing runbook runbooks/{page}")
    return found


