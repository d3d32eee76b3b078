"""Run drills against a target and write their journals and reports: the entry points.

run_drills runs each drill (on its own fresh local stack when no target is given) and run_drill one,
through moneypath.drills.phases.DrillRun; print_summary shows the results. A drill run is cut by job:
phases (the sequence), watcher (alerts and pages), faults (the fault switch, halts, the cap), diagnosis
(the runbook's diagnosis steps), impact (money and ledger), series (the plots' data), replicas (monitoring
replicas killed mid-incident, on the HA stack) and journal (its parts and journal.json).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from moneypath._common.verdict import FAIL, Outcome, jsonable
from moneypath.catalog import Catalog
from moneypath.check.drill_files import alert_names
from moneypath.drills import hooks
from moneypath.drills.baseline_load import TemplateError, major_text, payment_values, probe
from moneypath.drills.context import api_headers
from moneypath.drills.endpoints import Target
from moneypath.drills.journal import write_journal
from moneypath.drills.phases import DrillRun
from moneypath.formats.drill import LOCAL_TIME_FACTOR, Drill, ha_problem
from moneypath.readiness.records import Recorder, severities
from moneypath.stack.spec import StackSpec

__all__ = ["SUMMARY_HEADERS", "DrillRun", "LocalStacks", "Operator", "Result", "local_stack", "preflight",
           "print_summary", "run_drill", "run_drills", "summary_rows"]


@dataclass(frozen=True)
class Operator:
    """The person running the drills: where progress lines go, and who answers the tabletop (`ask`, e.g. input;
    None: not interactive)."""

    say: Callable[[str], None] = print
    ask: Callable[[str], str] | None = None


@dataclass(frozen=True)
class LocalStacks:
    """The fresh local stacks drills get when no target is given: each in `state_dir`/<drill>, of `shape`."""

    state_dir: Path = Path(".moneypath/drills")
    shape: StackSpec | None = None


@dataclass
class Result:
    """What run_drill hands back for the summary table."""

    drill: str
    verdict: Outcome  # pass | fail | not measured (a drill that did not run is a fail)
    timings: dict
    report: str
    journal: dict = field(repr=False, default_factory=dict)
    interrupted: bool = False  # Ctrl-C: the remaining drills are not run

    def __post_init__(self):
        self.verdict = Outcome(self.verdict)


def run_drill(drill: Drill, catalog: Catalog, target: Target, reports_dir: Path, operator: Operator = Operator(),
              recorder: Recorder | None = None, alerts: dict[str, dict] | None = None) -> Result:
    """One drill: its journal, its report, and (with a recorder) its record in the team's drill history.
    `alerts`: the catalog's generated alerts (moneypath.check.drill_files.alert_names; the run builds them when not
    given): the watcher judges pages by them, and the record takes each alert's severity from them."""
    say = operator.say
    drill = hooks.with_env(drill)  # the template's ${NAME}s, read once as the drill starts
    run = DrillRun(drill, catalog, target, say, operator.ask, alerts=alerts)
    try:
        journal = run.run()
    finally:
        run.close()
    journal = jsonable(journal)
    path = write_journal(journal, reports_dir)
    report = str(path)
    try:
        from moneypath.drills.report.rendering import render  # matplotlib: loaded when a report is drawn

        report = str(render(journal, path.parent, catalog))
    except Exception as exc:  # noqa: BLE001 - the journal is the record; a report can be rendered again
        say(f"           report not rendered ({type(exc).__name__}: {exc}); the journal is {path}")
    say(f"           report: {report}")
    if recorder is not None:
        recorder.record(drill, severities(run.alerts), journal, path, say, catalog_path=catalog.path)
    return Result(drill.name, journal["verdict"], journal["timings"], report, journal, run.interrupted)


# ---------------------------------------------------------------- several drills, the local stack


def local_stack(catalog: Catalog, drill: Drill, state_dir: Path, say=print, shape: StackSpec | None = None):
    """Start a fresh local stack of `shape` (its engine, ha, instances, postgres; with services, faults and the rules
    compressed by LOCAL_TIME_FACTOR whatever it says) and a Target for it."""
    import shutil

    from moneypath.protocol.tokens import issue
    from moneypath.stack import local as stack

    state_dir = state_dir.resolve()
    stack.down(state_dir, progress=lambda *_: None)  # an earlier run interrupted hard
    shutil.rmtree(state_dir, ignore_errors=True)  # fresh history: no pages or alert state from before
    started = time.time()
    spec = replace(shape or StackSpec(), fast=True, services=True, faults=True, time_factor=LOCAL_TIME_FACTOR)
    state = stack.up(catalog, state_dir, spec, progress=lambda *_: None)
    secret = stack.read_secrets(state_dir)["token_secret"].encode()
    target = Target(service=state.url("refservice"), prometheus=state.url("prometheus"),
                    providersim=state.url("providersim"), alertmanager=state.url("alertmanager"),
                    pager=state.url("pager"), db_url=state.db_url or f"sqlite:///{state_dir / 'ledger.db'}",
                    instances=tuple(state.service_urls()[1:]),
                    payments_token=issue(secret, "drill_merchant", ["payments:write", "payments:read"], ttl_s=3600),
                    admin_token=issue(secret, "drill_operator", ["admin:faults"], ttl_s=3600),
                    started_stack=True, time_factor=state.time_factor, stack_dir=str(state_dir))
    _warm_up(target, drill, catalog)
    say(f"stack up in {time.time() - started:.1f} s (Prometheus {target.prometheus}, pages {target.pager}/pages; "
        f"rules {LOCAL_TIME_FACTOR}x faster, see moneypath.generate.compress)")
    return target


def _warm_up(target: Target, drill: Drill, catalog: Catalog, payments: int = 12) -> None:
    """A few payments one at a time before the drill's clock starts: a fresh service's first requests
    (connection pools, first writes) are slow, and on a history of seconds they alone would burn the latency SLO."""
    spec = drill.load
    providers = [p for p, w in spec.providers.items() if w > 0]
    for i in range(payments):
        try:
            probe(target.service, api_headers(spec.requests, target.payments_token), spec.requests,
                  first_payment(drill, catalog, f"warm-up-{i}", provider=providers[i % len(providers)]),
                  capture=spec.capture > 0)
        except TemplateError:
            if i == 0:  # the drill's requests do not fit the reference service: nothing it would judge is real
                raise
            return


def first_payment(drill: Drill, catalog: Catalog, prefix: str, provider: str | None = None) -> dict:
    """The placeholders of a probe payment: the drill's first provider, currency and method, its smallest amount."""
    spec = drill.load

    def first(weights: dict[str, float]) -> str:
        return next(k for k, w in weights.items() if w > 0)

    currency = first(spec.currencies)
    return payment_values(prefix, 0, provider or first(spec.providers), currency, spec.amount_range[0],
                          first(spec.methods), uuid.uuid4().hex, major_text(catalog))


def preflight(drill: Drill, catalog: Catalog, target: Target, seen: set[str] | None = None) -> str:
    """One payment through the drill's requests before anything is broken: what it saw, or TemplateError
    (the team's API does not answer as the template says; the drill would judge nothing). `seen` gathers the
    identities its answers carried (moneypath.drills.scraped_preflight proves them scraped)."""
    spec = drill.load
    return probe(target.service, api_headers(spec.requests, target.payments_token), spec.requests,
                 first_payment(drill, catalog, f"drill-{drill.name}-preflight"), capture=spec.capture > 0, identities=seen)


def run_drills(drills: list[Drill], catalog: Catalog, reports_dir: Path, target: Target | None = None,
               stacks: LocalStacks = LocalStacks(), operator: Operator = Operator(),
               recorder: Recorder | None = None) -> list[Result]:
    """Run each drill; without a target each gets its own fresh local stack (`stacks`), stopped afterwards
    (also on Ctrl-C or an error). A stack that does not start fails its drill and the next one runs;
    Ctrl-C ends the drill at hand (journal and report kept) and runs no further one. With a recorder, each drill
    that wrote a journal is appended to the drill history (moneypath.readiness.records)."""
    from moneypath.stack import local as stack

    say, shape = operator.say, stacks.shape
    alerts = alert_names(catalog)  # once for the run: every drill's watcher and record read the same alerts
    results = []
    for drill in drills:
        say(f"=== {drill.name}: {drill.title}")
        why = ha_problem(drill, bool(shape and shape.ha) if target is None else bool(target.stack_dir),
                         own_stack=target is None)
        if why:  # the CLI refuses it first; a caller of this function gets the same line as a failed drill
            say(f"           {why}")
            results.append(Result(drill.name, FAIL, {}, why))
            continue
        if target is not None:
            result = run_drill(drill, catalog, target, reports_dir, operator, recorder, alerts)
        else:
            own = stacks.state_dir / drill.name
            try:
                try:
                    local = local_stack(catalog, drill, own, say, shape)
                except Exception as exc:  # noqa: BLE001 - StackError, a port in use...: this drill fails, not the run
                    reason = f"stack did not start: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                    say(f"           {reason}")
                    results.append(Result(drill.name, FAIL, {}, reason))
                    continue
                result = run_drill(drill, catalog, local, reports_dir, operator, recorder, alerts)
            finally:
                stack.down(own.resolve(), progress=lambda *_: None)
        results.append(result)
        if result.interrupted:
            left = len(drills) - len(results)
            if left:
                say(f"interrupted: {left} drill(s) not run")
            break
    return results


def summary_rows(results: list[Result]) -> list[list[str]]:
    def secs(v):
        return "—" if v is None else f"{v:.0f} s"

    return [[r.drill, "INTERRUPTED" if r.interrupted else r.verdict.upper(), secs(r.timings.get("detect_s")),
             secs(r.timings.get("page_s")), secs(r.timings.get("diagnose_s")), secs(r.timings.get("recover_s")),
             r.report] for r in results]


SUMMARY_HEADERS = ["drill", "verdict", "detect", "page", "diagnose", "recover", "report"]


def print_summary(results: list[Result], out=print) -> None:
    """One row per drill; rich's table when the output is a terminal-capable console, plain text otherwise."""
    rows = summary_rows(results)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency; plain text if someone strips it
        Console = None
    if Console is not None and out is print:
        table = Table(title="drills (times from fault injection)")
        for h in SUMMARY_HEADERS:
            table.add_column(h, no_wrap=True)  # a report path stays one line, to copy
        for row in rows:
            style = "green" if row[1] == "PASS" else "red"
            table.add_row(row[0], f"[{style}]{row[1]}[/{style}]", *row[2:])
        needed = sum(max(len(h), *(len(r[i]) for r in rows)) + 3 for i, h in enumerate(SUMMARY_HEADERS)) + 1
        Console(width=max(needed, Console().width)).print(table)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(SUMMARY_HEADERS)]
    out("  ".join(h.ljust(w) for h, w in zip(SUMMARY_HEADERS, widths)))
    for row in rows:
        out("  ".join(c.ljust(w) for c, w in zip(row, widths)))
