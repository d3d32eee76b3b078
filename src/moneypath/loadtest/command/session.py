"""One `moneypath loadtest SCENARIO`, from its options to a published, judged report: `prepare` checks the
input before anything starts (UsageError), `execute` opens the target, runs Locust, judges the run against
the gates (and a baseline) and writes the report (RunFailed), `verdict` is its last line.

Where it runs is `where`, the command's moneypath.stack.spec.RunSpec (built once by moneypath.cli.where: options,
environment, moneypath.run.yaml), read by targets.open_target. `options` is the command's parsed options for the
load itself: no_prometheus, no_auth, token, scenario, rate, users, duration, workers, reconcile_within, locustfile,
scenario_file, baseline, p99_tolerance, rps_tolerance, out and catalog.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath.catalog import Catalog, load_catalog
from moneypath.formats import scenarios
from moneypath.loadtest.command import (
    gates,
    inputs,
    launch,
    load_generator,
    locust_run,
    run_report,
    scraped_targets,
    targets,
)
from moneypath.loadtest.command.counts import verdict_note
from moneypath.loadtest.command.inputs import UsageError
from moneypath.loadtest.command.locust_processes import split_address
from moneypath.loadtest.command.run_types import LoadTestResult
from moneypath.loadtest.in_locust import flows, shape
from moneypath.stack import local as stack
from moneypath.stack.processes import free_port
from moneypath.stack.spec import RunSpec

MAX_WORKERS = 64  # local processes; beyond one machine, --bind and `moneypath loadtest-worker` on the others


class RunFailed(Exception):
    """The run could not be made or judged (not a gate breach); one line naming where its logs were kept."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class LoadTestPlan:
    """A checked load test: nothing started yet but the report's staging directory."""
    c: Catalog
    options: object
    locustfile: Path
    scenario: scenarios.Scenario
    baseline: dict | None
    tmp: Path
    final: Path
    where: RunSpec = RunSpec()


@dataclass
class JudgedRun:
    result: LoadTestResult
    outcome: locust_run.RunOutcome
    final: Path  # the published report directory


def prepare(options, where: RunSpec) -> LoadTestPlan:
    """Everything that can be checked before the run; UsageError (one line) when something is wrong."""
    distributed(options)
    if options.workers and options.workers > MAX_WORKERS and not getattr(options, "bind", None):
        raise UsageError(f"--workers: at most {MAX_WORKERS} on one machine (for several machines: --bind HOST:PORT "
                         "and `moneypath loadtest-worker` on each, \"Distributed: master and workers\" in "
                         "docs/load-tests.md)")
    if where.target.prometheus and options.no_prometheus:
        raise UsageError("--prometheus and --no-prometheus: choose one")
    c = load_catalog(options.catalog)
    try:
        gates.money_signals(c)
        locustfile = inputs.locustfile(options.locustfile or inputs.default_locustfile(options.catalog))
        sfile = scenarios.load(options.scenario_file or locustfile.parent / "scenarios.yaml", c)
        scenario = sfile.get(options.scenario)
        if not launch.knows_moneypath(locustfile) and (
                refused := launch.plain_refusals(locustfile, scenario, options.rate is not None)):
            raise UsageError(refused)
        if unset := flows.unset_template_env(locustfile):  # sent as written otherwise: refused before any load
            raise UsageError("\n".join(unset))
        locust_run.check_overload(scenario, shape.duration_of(sfile, scenario, options.duration))
        baseline = locust_run.load_result(options.baseline) if options.baseline else None
    except (scenarios.ScenarioError, locust_run.LoadTestError, gates.SignalError) as exc:
        raise UsageError(str(exc)) from None
    tmp, final = inputs.staging(options.out, f"loadtest-{options.scenario}")  # last: nothing after it can fail
    return LoadTestPlan(c, options, locustfile, scenario, baseline, tmp, final, where)


def distributed(options) -> None:
    """UsageError when --bind or --wait-workers cannot apply, or --bind's address cannot be listened on here."""
    bind, wait = getattr(options, "bind", None), getattr(options, "wait_workers", None)
    if wait is not None and not bind:
        raise UsageError("--wait-workers: only with --bind HOST:PORT (the master waits there for its workers)")
    if not bind:
        return
    if not options.workers:
        raise UsageError(f"--bind {bind}: give --workers N, the workers started elsewhere that the master waits for")
    import socket

    host, port = split_address(bind)
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind(("" if host == "*" else host, port))
    except OSError as exc:
        raise UsageError(f"--bind {bind}: cannot listen there ({exc.strerror or exc})") from None


def worker_options(options) -> dict:
    """The LoadTestSpec's fields for workers started elsewhere (--bind, --wait-workers), when given."""
    bind, wait = getattr(options, "bind", None), getattr(options, "wait_workers", None)
    return {"bind": bind, **({"wait_workers_s": wait} if wait is not None else {})}


def execute(plan: LoadTestPlan, say=print, warn=print) -> JudgedRun:
    """Run the plan and publish its report; RunFailed when it cannot (its logs kept, the stack it started
    stopped). `warn` says where an interrupted run's logs are before the interruption goes on."""
    o, tmp, final = plan.options, plan.tmp, plan.final
    spec = locust_run.LoadTestSpec(o.scenario, o.rate, o.users, o.duration, o.workers, o.reconcile_within, o.scenario_file,
                          plan.locustfile, require_prometheus=not o.no_prometheus, **worker_options(o))
    target = None
    try:
        with reported(tmp, final, warn):
            exporter_port = free_port()
            target = targets.open_target(plan.c, o, exporter_port, plan.locustfile, say, where=plan.where)
            scraped_targets.refuse_unscraped(plan.c, target, say)  # the series judged are the target's
            if missing := locust_run.missing_fault_api(plan.scenario, target):
                raise UsageError(missing)
            outcome = locust_run.run(plan.c, spec, target, tmp / "locust", exporter_port, say)
            result = judge(plan, outcome, target)
            run_report.render(result, outcome.ticks, outcome.service_series, tmp)
            final = run_report.publish(tmp, final)
    finally:
        targets.close_target(target)
    return JudgedRun(result, outcome, final)


@contextmanager
def reported(tmp: Path, final: Path, warn):
    """A run that cannot be made becomes RunFailed (2 for a usage error, else 1) with where its logs are kept; an
    unexpected stop (Ctrl-C, a bug) keeps what the run wrote, says where, and goes on."""
    try:
        yield
    except (UsageError, locust_run.LoadTestError, stack.StackError) as exc:
        code = ExitCode.USAGE if isinstance(exc, UsageError) else ExitCode.FAIL
        raise RunFailed(run_report.failure_message(exc, tmp, final), code) from None
    except BaseException as exc:
        kept = run_report.keep_failed(tmp, final)
        if kept is not None:
            warn(f"moneypath: the run stopped ({type(exc).__name__}); its logs are in {kept}")
        raise


def judge(plan: LoadTestPlan, outcome: locust_run.RunOutcome, target: locust_run.LoadTarget) -> LoadTestResult:
    """The judged run: the runner's figures and gates, the thresholds, drift, overload and the baseline's gates
    (its breaches and verdict follow from the gates)."""
    o = plan.options
    result = locust_run.run_result(plan.c, outcome, target)
    thr = gates.thresholds(plan.c, o.reconcile_within)
    result.p99_threshold_ms = thr.p99_s * 1000 if thr.p99_s else None
    if outcome.drift is not None:
        result.drift = outcome.drift.to_dict()
    if outcome.overload is not None:
        result.overload = outcome.overload.to_dict()
    if plan.baseline is not None:
        compared = gates.compare(result.figures, plan.baseline, gates.Tolerances(o.p99_tolerance, o.rps_tolerance))
        result.gates += load_generator.apply(compared, outcome.generator)  # a whole run's figures: not on the rest
        result.baseline = str(o.baseline)
    return result


def verdict(result: LoadTestResult, scenario: str, no_prometheus: bool) -> str:
    """The run's last line: passed (and what was not judged, or skipped), or how many gates breached."""
    features_off = "".join(f"; skipped: {line}" for line in result.feature_skips)
    features_off += verdict_note(result.figures)  # the metrics did not count what was sent
    lg = result.figures.get("load_generator") or {}
    if lg.get("not_measured_s") and lg.get("recovered"):  # the rate held again: judged on the rest, and said so
        features_off += "; a load-generator worker was lost: the rate gates judged without " + ", ".join(
            f"{a:.0f}-{b:.0f} s" for a, b in lg["not_measured_s"])
    if result.passed and no_prometheus:
        skipped = [gt.title for gt in result.skipped if gt.reason == locust_run.NOT_JUDGED]
        return (f"{scenario}: every judged gate passed; WITHOUT Prometheus (--no-prometheus): "
                f"{len(skipped)} gates not judged ({', '.join(skipped)}){features_off}")
    if result.passed:
        return f"{scenario}: every gate passed{features_off}"
    if result.outcome is gates.NOT_MEASURED:
        unmeasured = [gt.title for gt in result.gates if gt.outcome is gates.NOT_MEASURED and not gt.skipped]
        return (f"{scenario}: NOT MEASURED: no gate failed; {len(unmeasured)} of {len(result.gates)} gates not "
                f"measured ({', '.join(unmeasured)}){features_off}")
    return f"{scenario}: FAILED: {len(result.breaches)} of {len(result.gates)} gates breached{features_off}"
