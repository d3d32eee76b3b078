"""Lint the generated alert and recording rules against the catalog.

`lint(catalog, root)` reads `alerts/moneypath-alerts.yaml` and `collector/recording-rules.yaml` under `root`
and returns one line per problem, ``path: alert-or-record-name: what is wrong`` (an empty list means clean).
A problem about a whole file uses ``(file)`` as the name. Expressions are checked with plain regexes: there
is no PromQL parser here, so the checks are deliberately conservative (string literals are blanked out
before looking for functions, groupings and ranges). The runbook pages are checked too
(`moneypath.runbooks.check_runbooks`, lines ``runbooks/x.md: key.path: what is wrong``), and so are the drill
files (`moneypath.drills.spec.check_drill_files`, ``runbooks/drills/x.yaml: key.path: what is wrong``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import yaml

from moneypath.catalog import DURATION, OTHER, Catalog, Signal
from moneypath.catalog import duration_seconds as parse_duration

ALERTS_FILE = "alerts/moneypath-alerts.yaml"
RECORDING_FILE = "collector/recording-rules.yaml"
FILES = (ALERTS_FILE, RECORDING_FILE)
FILE = "(file)"  # the name slot of a problem about a whole file
SEVERITIES = ("page", "ticket")
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url", "dashboard_url")
# Labels that may appear in by()/without() although no catalog signal declares them.
GROUPING_LABELS = {"le", "slo", "provider", "service"}
PROMTOOL_TIMEOUT = 60

# A double-, single- or back-quoted PromQL string literal, escapes included.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
# rate(metric / irate(metric / increase(metric: group 1 the function, group 2 the first series name.
# \b keeps "rate" from matching inside "irate".
_RATE = re.compile(r"\b(rate|irate|increase)\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")
# metric{...}: group 1 the name, group 2 the matchers. The body may hold quoted strings containing braces,
# e.g. route="/v1/payments/{payment_id}"; the look-behind stops a match from starting mid-name.
_SELECTOR = re.compile(r'(?<![\w:])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}')
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_GROUPING = re.compile(r"\b(by|without)\s*\(([^)]*)\)")
# [5m] or the range of a subquery [30m:1m]; group 1 is the (first) duration.
_RANGE = re.compile(r"\[\s*(" + DURATION.pattern + r")\s*(?::[^\]]*)?\]")
# promtool's message for one rule: 'file: 5:11: group "g", rule 1, "Name": message'.
_PROMTOOL_RULE = re.compile(r'group "[^"]*", rule \d+, "([^"]*)": (.*)$')


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
    from moneypath.runbooks import check_runbooks  # imported here: moneypath.runbooks builds on this module

    problems += check_runbooks(catalog, root)
    from moneypath.drills.spec import check_drill_files  # runbooks/drills/*.yaml: the drills rehearsing them

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


def metric_index(catalog: Catalog) -> dict[str, tuple[Signal, str]]:
    """Every series name the catalog exports → (signal, histogram suffix or "")."""
    index = {}
    for sig in catalog.signals.values():
        if sig.type == "histogram":
            index.update({f"{sig.name}{suffix}": (sig, suffix) for suffix in ("_bucket", "_count", "_sum")})
        else:
            index[sig.name] = (sig, "")
    return index


def recorded_labels(rules: list[dict]) -> set[str]:
    """Labels that recording rules attach to the series they record (e.g. slo)."""
    return {label for r in rules if "record" in r and isinstance(r.get("labels"), dict) for label in r["labels"]}


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


def check_expr(expr: str, metrics: dict, known_labels: set[str], retention: str, limit: float) -> list[str]:
    """(d) rates on counters, (e) catalog labels and values, (f) ranges within retention."""
    bare = _STRING.sub('""', expr)  # no function, grouping or range inside a string literal
    return (check_rates(bare, metrics) + check_selectors(expr, metrics) + check_groupings(bare, known_labels)
            + check_ranges(bare, retention, limit))


def check_rates(expr: str, metrics: dict) -> list[str]:
    found = []
    for func, metric in _RATE.findall(expr):
        if ":" in metric:
            continue  # a recorded series: its type is the recording rule's business
        sig, suffix = metrics.get(metric, (None, ""))
        if sig is None or not (sig.type == "counter" or suffix):
            what = f"a {sig.type}" if sig else "not a catalog metric"
            found.append(f"{func}() applied to {metric}, which is {what}, not a counter or histogram _bucket/_count/_sum")
    return found


def check_selectors(expr: str, metrics: dict) -> list[str]:
    found = []
    for metric, body in _SELECTOR.findall(expr):
        if metric not in metrics:
            continue
        sig, suffix = metrics[metric]
        for label, op, value in _MATCHER.findall(body):
            if label == "le" and suffix == "_bucket":
                if op == "=" and not _is_bucket(value, sig):
                    found.append(f'{metric}{{le="{value}"}}: not a bucket boundary of {sig.name}')
            elif label not in sig.labels:
                found.append(f"{metric}: label {label} is not in the catalog for {sig.name}")
            elif op == "=" and value not in (*sig.labels[label], OTHER):
                found.append(f'{metric}{{{label}="{value}"}}: value not in the catalog for {sig.name}')
    return found


def _is_bucket(value: str, sig: Signal) -> bool:
    try:
        return value == "+Inf" or float(value) in (sig.buckets or ())
    except ValueError:
        return False


def check_groupings(expr: str, known_labels: set[str]) -> list[str]:
    found = []
    for clause, labels in _GROUPING.findall(expr):
        for label in filter(None, (s.strip() for s in labels.split(","))):
            if label not in known_labels:
                found.append(f"{clause} ({label}): label {label} is on no catalog signal")
    return found


def check_ranges(expr: str, retention: str, limit: float) -> list[str]:
    return [f"range [{window}] exceeds retention {retention}"
            for window in _RANGE.findall(expr) if parse_duration(window) > limit]


def run_promtool(root: Path, files: list[str]) -> list[str]:
    """(c) `promtool check rules` once per file; its failures as problem lines."""
    if not files:
        return []
    promtool = shutil.which("promtool")
    if promtool is None:
        return [f"{root}: {FILE}: promtool is not on PATH, rule expressions were not checked"]
    problems = []
    for rel in files:
        try:
            result = subprocess.run([promtool, "check", "rules", rel], cwd=root, capture_output=True, text=True,
                                    timeout=PROMTOOL_TIMEOUT)
        except subprocess.TimeoutExpired:
            problems.append(f"{rel}: {FILE}: promtool check rules timed out after {PROMTOOL_TIMEOUT} s")
            continue
        if result.returncode != 0:
            problems += _promtool_problems(rel, result.stdout + result.stderr)
    return problems


def _promtool_problems(rel: str, output: str) -> list[str]:
    problems = []
    for line in output.splitlines():
        line = line.strip()
        if not line or line.startswith(("Checking ", "FAILED", "SUCCESS")):
            continue
        line = line.removeprefix(f"{rel}: ")
        rule = _PROMTOOL_RULE.search(line)
        problems.append(f"{rel}: {rule[1]}: promtool: {rule[2]}" if rule else f"{rel}: {FILE}: promtool: {line}")
    return problems or [f"{rel}: {FILE}: promtool check rules failed without a message"]
