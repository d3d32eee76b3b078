"""One `moneypath capacity`, from its options to a published report: `prepare` checks the input before
anything starts (UsageError), `execute` finds the knee on the target (and, with --postgres, on stacks of
the same service on PostgreSQL), plans instances and cost and writes the report (session.RunFailed).

Where it runs is `where`, the command's moneypath.stack.spec.RunSpec (built once by moneypath.cli.where), read by
targets.open_target (one instance: the plan measures what one carries) and for the state directory of the
PostgreSQL stacks. `options` is the command's parsed options for the rest: those of targets.open_target, and
current_rps, start, step, max_rate, step_duration, saturation_users, service_pid, postgres, postgres_workers,
no_confirm, utilization, workers, locustfile, scenario_file, out and catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from moneypath.catalog import Catalog, load_catalog
from moneypath.formats import scenarios
from moneypath.loadtest.command import gates, inputs, launch, run_report, scraped_targets, targets
from moneypath.loadtest.command.capacity import measure, plan_report
from moneypath.loadtest.command.capacity import plan as capacity
from moneypath.loadtest.command.inputs import UsageError
from moneypath.loadtest.command.session import distributed, reported, worker_options
from moneypath.loadtest.in_locust import flows
from moneypath.stack.processes import free_port
from moneypath.stack.spec import RunSpec


@dataclass
class CapacityPlan:
    """A checked capacity run: nothing started yet but the report's staging directory."""
    c: Catalog
    options: object
    locustfile: Path
    sfile: scenarios.ScenarioFile
    steps: list[float] | None  # None: automatic, from the saturation throughput
    tmp: Path
    final: Path
    where: RunSpec = RunSpec()


def prepare(options, where: RunSpec) -> CapacityPlan:
    """Everything that can be checked before minutes of load; UsageError (one line) when something is wrong."""
    if where.target.prometheus and options.no_prometheus:
        raise UsageError("--prometheus and --no-prometheus: choose one")
    distributed(options)
    steps = None
    if any(v is not None for v in (options.start, options.step, options.max_rate)):
        start, step, top = options.start or 20.0, options.step or 20.0, options.max_rate or 300.0
        if start > top:
            raise UsageError(f"--start {start:g} is above --max {top:g}")
        try:
            steps = capacity.step_rates(start, step, top)
        except capacity.TooManySteps as exc:
            raise UsageError(str(exc)) from None
    if options.postgres and (where.target.service or targets.running_stack(where.state_dir) is not None):
        raise UsageError("--postgres measures stacks that capacity starts itself: leave out --host and stop "
                         f"the stack in {where.state_dir}")
    if options.postgres:
        check_postgres(options.postgres)
    c = load_catalog(options.catalog)
    try:
        gates.money_signals(c)
        locustfile = inputs.locustfile(options.locustfile or inputs.default_locustfile(options.catalog))
        if not launch.knows_moneypath(locustfile):
            raise UsageError(launch.plain_refusals(locustfile, None, rate_given=False, closed_loop=True))
        if unset := flows.unset_template_env(locustfile):  # a ${NAME} the environment lacks: before any load
            raise UsageError("\n".join(unset))
        sfile = scenarios.load(options.scenario_file or locustfile.parent / "scenarios.yaml", c)
        sfile.get(capacity.SCENARIO)
    except (scenarios.ScenarioError, gates.SignalError) as exc:
        raise UsageError(str(exc)) from None
    tmp, final = inputs.staging(options.out, "capacity")  # last: nothing after it can fail
    return CapacityPlan(c, options, locustfile, sfile, steps, tmp, final, where)


def check_postgres(url: str) -> None:
    """Before minutes of load: the --postgres database answers (UsageError, one line, if not)."""
    import sqlalchemy
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    if not url.startswith("postgresql"):
        raise UsageError(f"--postgres {url}: expected a postgresql+psycopg://... URL")
    try:
        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 5})
        with engine.connect():
            pass
        engine.dispose()
    except (ArgumentError, NoSuchModuleError) as exc:
        raise UsageError(f"--postgres {url}: {str(exc).splitlines()[0]}") from None
    except DBAPIError as exc:
        raise UsageError(f"--postgres: cannot connect: {str(exc.orig).splitlines()[0]}") from None


def execute(plan: CapacityPlan, say=print, warn=print) -> tuple[dict, Path]:
    """(the capacity result, its published report directory); RunFailed when the run cannot be made (its logs
    kept, the stacks it started stopped)."""
    tmp, final = plan.tmp, plan.final
    target = None
    try:
        with reported(tmp, final, warn):
            exporter_port = free_port()
            target = targets.open_target(plan.c, plan.options, exporter_port, None, say, where=plan.where,
                                         instances=1)
            scraped_targets.refuse_unscraped(plan.c, target, say, "the capacity plan")
            database = "sqlite" if target.owned else "unknown"
            saturation, measured = _climb(plan, target, plan.steps, tmp, exporter_port, say,
                                          single_writer=database == "sqlite")
            compare = None
            if plan.options.postgres:
                targets.close_target(target)
                compare = _postgres_run(plan, tmp, exporter_port, say)
            result = capacity.plan(plan.c, plan.sfile, measured, plan.options.current_rps, plan.options.utilization,
                                   saturation=saturation, database=database, compare=compare,
                                   rate_unit=launch.rate_unit(plan.locustfile))
            plan_report.render(result, tmp)
            final = run_report.publish(tmp, final)
    finally:
        targets.close_target(target)
    return result, final


def _climb(plan: CapacityPlan, target, steps, work: Path, exporter_port: int, say, label: str = "", climb_too: bool = True,
           single_writer: bool = False):
    """(saturation probe, steps) on one target; the steps are automatic when `steps` is None."""
    o = plan.options
    spec = measure.step_spec(o.step_duration, o.workers, plan.locustfile, o.scenario_file,
                                  require_prometheus=not o.no_prometheus)
    spec = replace(spec, **worker_options(o), runs_follow=True)  # workers started elsewhere stay for the next step
    climb = measure.Climb(plan.c, target, spec, work, exporter_port, say, service_pids=o.service_pid,
                               single_writer=single_writer)
    if label:
        say(label)
    saturation = climb.saturation(o.saturation_users)
    if not climb_too:
        return saturation, []
    rates = steps if steps is not None else capacity.auto_rates(saturation.achieved_rps)
    return saturation, climb.climb(rates, confirm=not o.no_confirm, extend=steps is None)


def _postgres_run(plan: CapacityPlan, work: Path, exporter_port: int, say) -> dict:
    """The same service on PostgreSQL: a saturation probe with one process, then the climb with N (the
    same explicit steps, or automatic ones from its own saturation)."""
    o = plan.options
    state = plan.where.state_dir / "loadtest-postgres"
    target = targets.start_stack(plan.c, state, exporter_port, say, db_url=o.postgres, service_workers=1)
    try:
        one, _ = _climb(plan, target, None, work / "postgres-1", exporter_port, say,
                        "PostgreSQL, 1 service process:", climb_too=False)
    finally:
        targets.close_target(target)
    target = targets.start_stack(plan.c, state, exporter_port, say, db_url=o.postgres,
                                service_workers=o.postgres_workers)
    try:
        many, measured = _climb(plan, target, plan.steps, work / f"postgres-{o.postgres_workers}", exporter_port, say,
                                f"PostgreSQL, {o.postgres_workers} service processes:")
    finally:
        targets.close_target(target)
    return {"database": "postgresql", "workers": o.postgres_workers, "one": one, "many": many, "steps": measured}
