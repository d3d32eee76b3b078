"""Readiness of every paging alert, judged from the drill history's records (moneypath.readiness.history):

- ready (pass): a drill in which the alert paged passed within the policy (catalog `readiness.policy_days`);
- lapsed (fail): it was rehearsed, but no such pass lies within the policy;
- not ready (fail), whatever the passes: the latest run (by time) of a drill that rehearsed it failed, or its route
  pages a receiver with no production delivery (moneypath.check.delivery): its pages would reach nobody;
- not measured: never rehearsed — no record names it as paged. Never a pass.

Its trend: the median time to page of its last `trend.runs` runs (real time: the records' times are already scaled
back from a compressed drill) over its deadline, or over the median of the runs before by more than `trend.creep`,
is creeping (fail); fewer runs than that is not measured. The generated TimeToPageCreeping rule says the same from
the exported series (moneypath.generate.readiness_rules); `moneypath readiness` and its exporter show both.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Check, register
from moneypath.catalog import Catalog, duration_seconds
from moneypath.catalog.conventions import slo_alert_key
from moneypath.catalog.readiness_policy import ReadinessPolicy
from moneypath.check.delivery import undelivered, why_undelivered
from moneypath.check.drill_files import alert_names
from moneypath.formats.drill import LOCAL_TIME_FACTOR, DrillError, drill_files, read_drill

RECENT_RUNS_MAX = 10  # what the report and the exporter keep per alert (the trend needs 2 x trend.runs)
RULE_TEST_DIRS = ("alerts", "tests")  # where promtool rule test files (alert_rule_test) are looked for


@dataclass(frozen=True)
class Run:
    """One record's measurement of one alert, in real time."""

    started_at: float
    ended_at: float
    drill: str
    environment: str
    verdict: str
    paged: bool
    time_to_page_s: float | None
    time_to_diagnose_s: float | None
    time_to_recover_s: float | None


@dataclass
class AlertReadinessStatus:
    key: str  # the catalog key (`alerts:` or an SLO's burn-rate alert key)
    alert: str  # the full alert name the records and the rules use
    policy_s: float
    deadline_s: float | None
    deadline_from: str  # where the deadline comes from, or why there is none
    status: str = NOT_MEASURED  # pass ready, fail lapsed, not measured never rehearsed
    why: str = ""
    last_pass: float | None = None
    last_pass_drill: str | None = None
    runs: list[Run] = field(default_factory=list)  # newest first, those with a time to page
    trend: str = NOT_MEASURED
    trend_why: str = ""
    runbook: str | None = None
    rule_tests: list[str] = field(default_factory=list)
    drill_files: list[str] = field(default_factory=list)
    roles: list[dict] = field(default_factory=list)  # the latest record's tabletop answers
    blocked: str = ""  # why a pass within the policy does not make it ready (a later failed run, no delivery)

    @property
    def check(self) -> Check:
        return Check(name=self.alert, outcome=self.status, why=self.why)


def policy_of(c: Catalog) -> ReadinessPolicy:
    return c.readiness if c.readiness is not None else ReadinessPolicy()


def paging_alerts(c: Catalog) -> dict[str, str]:
    """Catalog key → full alert name of every alert that pages: business alerts of severity page, and each SLO's
    burn-rate alert (its fast windows page)."""
    keys = [k for k, a in c.alerts.items() if a.severity == "page"] + [slo_alert_key(k) for k in c.slos]
    return {k: c.alert_name(k) for k in keys}


def timestamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _drill_deadlines(c: Catalog, root: Path) -> dict[str, tuple[list[str], float]]:
    """Full alert name → (drill files expecting it, the longest page_within among them in real time)."""
    out: dict[str, tuple[list[str], float]] = {}
    for path in drill_files(root):
        try:
            drill = read_drill(path, root)
        except DrillError:
            continue  # the lint reports it; a broken drill file sets no deadline
        for expected in drill.alerts.expected:
            name = expected.alert if expected.alert.startswith(c.alert_prefix) else c.alert_name(expected.alert)
            files, longest = out.get(name, ([], 0.0))
            out[name] = ([*files, drill.path], max(longest, expected.page_within * LOCAL_TIME_FACTOR))
    return out


def _rule_tests(root: Path) -> dict[str, list[str]]:
    """Full alert name → the promtool rule test files (alert_rule_test) under alerts/ and tests/ that test it."""
    out: dict[str, list[str]] = {}
    for top in RULE_TEST_DIRS:
        for path in sorted((root / top).rglob("*.y*ml")) if (root / top).is_dir() else ():
            try:
                if path.stat().st_size > 1_000_000 or "alert_rule_test" not in (text := path.read_text("utf-8")):
                    continue
                doc = yaml.safe_load(text)
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue
            for test in (doc or {}).get("tests", []) if isinstance(doc, dict) else ():
                for check in (test or {}).get("alert_rule_test", []) or []:
                    name = (check or {}).get("alertname")
                    if name:
                        files = out.setdefault(name, [])
                        rel = path.relative_to(root).as_posix()
                        if rel not in files:
                            files.append(rel)
    return out


def _runs(records: list[dict], alert: str) -> list[Run]:
    runs = []
    for r in records:
        for a in r.get("alerts") or ():
            if a.get("alert") == alert:
                runs.append(Run(timestamp(r["started_at"]), timestamp(r["ended_at"]), r.get("drill", ""),
                                r.get("environment", ""), r.get("verdict", NOT_MEASURED), bool(a.get("paged")),
                                a.get("time_to_page_s"), a.get("time_to_diagnose_s"), a.get("time_to_recover_s")))
    return sorted(runs, key=lambda run: run.started_at, reverse=True)


def trend(times: list[float], deadline_s: float | None, runs: int, creep: float) -> tuple[str, str]:
    """(status, why) of time to page, `times` newest first: fail (creeping) when the median of the last `runs` is
    over the deadline, or over the median of the `runs` before by more than `creep`."""
    if len(times) < runs:
        return NOT_MEASURED, f"not measured: {len(times)} run(s) with a time to page, the trend needs {runs}"
    recent = statistics.median(times[:runs])
    if deadline_s is not None and recent > deadline_s:
        return FAIL, f"median time to page {recent:.0f} s of the last {runs} runs is over the deadline {deadline_s:.0f} s"
    if len(times) >= 2 * runs:
        before = statistics.median(times[runs:2 * runs])
        if recent > (1 + creep) * before:
            return FAIL, (f"median time to page {recent:.0f} s of the last {runs} runs is more than {creep:.0%} over "
                          f"the {before:.0f} s of the {runs} before")
        return PASS, f"median {recent:.0f} s of the last {runs} runs (the {runs} before: {before:.0f} s)"
    if deadline_s is None:
        return NOT_MEASURED, (f"not measured: no deadline and {len(times)} run(s), fewer than the {2 * runs} a "
                              "comparison with the runs before needs")
    return PASS, f"median {recent:.0f} s of the last {runs} runs, within the deadline {deadline_s:.0f} s"


def readiness(c: Catalog, records: list[dict], root: Path, now: float) -> list[AlertReadinessStatus]:
    """Every paging alert's readiness at `now`: never rehearsed first, then lapsed, then ready."""
    policy = policy_of(c)
    drills = _drill_deadlines(c, Path(root))
    tests = _rule_tests(Path(root))
    known = alert_names(c)
    out = []
    for key, alert in paging_alerts(c).items():
        files, drill_deadline = drills.get(alert, ([], 0.0))
        if (own := policy.own_deadline(key)) is not None:
            deadline, source = duration_seconds(own), f"readiness.alerts.{key}.page_deadline"
        elif files:
            deadline, source = drill_deadline, f"page_within x {LOCAL_TIME_FACTOR} in {', '.join(files)}"
        elif policy.page_deadline is not None:
            deadline, source = duration_seconds(policy.page_deadline), "readiness.page_deadline"
        else:
            deadline, source = None, "no drill expects it and the catalog gives no page_deadline"
        runbook = Path(root) / "runbooks" / f"{alert.lower()}.md"
        item = AlertReadinessStatus(key, alert, policy.policy_seconds(key), deadline, source,
                                    runbook=runbook.relative_to(root).as_posix() if runbook.is_file() else None,
                                    rule_tests=tests.get(alert, []), drill_files=files)
        if nowhere := undelivered(c, alert, known):
            item.blocked = why_undelivered(c, alert, nowhere)
        judge(item, _runs(records, alert), now, policy)
        item.roles = _roles(records, alert, files)
        out.append(item)
    order = {NOT_MEASURED: 0, FAIL: 1, PASS: 2}
    return sorted(out, key=lambda a: (order[a.status], a.alert))


def judge(item: AlertReadinessStatus, runs: list[Run], now: float, policy: ReadinessPolicy) -> AlertReadinessStatus:
    passes = [r for r in runs if r.verdict == PASS and r.paged]
    if passes:
        item.last_pass, item.last_pass_drill = passes[0].ended_at, passes[0].drill
    days = item.policy_s / 86400
    if item.last_pass is not None and (failed := failed_since_pass(runs)):
        item.blocked = item.blocked or failed  # stays not ready once stale too: the exporter's last pass agrees
    if not runs and item.blocked:  # never rehearsed, and would page nobody: the fix comes first
        item.status, item.why = FAIL, f"{item.blocked}; never rehearsed either"
    elif not runs:
        item.status, item.why = NOT_MEASURED, "not measured: never rehearsed (no drill on record paged it)"
    elif item.last_pass is None:
        item.status, item.why = FAIL, f"lapsed: rehearsed {len(runs)} time(s), never passed"
    elif now - item.last_pass > item.policy_s:
        item.status, item.why = FAIL, (f"lapsed: last pass {(now - item.last_pass) / 86400:.0f} days ago "
                                       f"({item.last_pass_drill}), policy {days:g} days")
    elif item.blocked:
        item.status, item.why = FAIL, item.blocked
    else:
        item.status, item.why = PASS, (f"passed {(now - item.last_pass) / 86400:.0f} days ago "
                                       f"({item.last_pass_drill}), policy {days:g} days")
    if item.blocked and item.blocked not in item.why:
        item.why += f"; {item.blocked}"
    item.runs = [r for r in runs if r.time_to_page_s is not None][:RECENT_RUNS_MAX]
    item.trend, item.trend_why = trend([r.time_to_page_s for r in item.runs], item.deadline_s,
                                       policy.trend.runs, policy.trend.creep)
    return item


def failed_since_pass(runs: list[Run]) -> str:
    """Why the alert's passes do not stand: a drill that rehearsed it whose latest run (by start time; `runs` newest
    first) failed, or ""."""
    latest: dict[str, Run] = {}
    for run in runs:
        latest.setdefault(run.drill, run)
    failed = [r for r in latest.values() if r.verdict == FAIL]
    if not failed:
        return ""
    r = failed[0]
    when = datetime.fromtimestamp(r.started_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"not ready: the latest run of {r.drill} ({when}) failed"
            f"{' after an earlier pass' if any(p.drill == r.drill and p.verdict == PASS for p in runs) else ''}: "
            "run it again once fixed")


def _roles(records: list[dict], alert: str, files: list[str]) -> list[dict]:
    """The tabletop answers of the newest record that rehearsed this alert (a drill that paged it, or a
    tabletop of a drill file expecting it)."""
    for r in sorted(records, key=lambda r: r.get("started_at", ""), reverse=True):
        if any(a.get("alert") == alert for a in r.get("alerts") or ()) or r.get("drill_file") in files:
            if r.get("roles"):
                return list(r["roles"])
    return []


register("check.readiness", readiness)
