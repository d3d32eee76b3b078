"""`moneypath loadtest SCENARIO` and `moneypath capacity`: commands added by `add_commands`.

Parse, call, print: the runs are moneypath.loadtest.command.session and .capacity.plan_session, imported when a command
runs; both start Locust in subprocesses only, so this module is safe on the main CLI's import path.
Exit codes: 0 every gate passed, 1 a gate breached (one line per breach on stderr) or the
run failed, 2 bad input (one line).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath._common.verdict import EXIT_CODES, FAIL, exit_code
from moneypath.catalog import duration_seconds
from moneypath.cli import where

LOCUSTFILE_CONTRACT = """\
your own locustfile (--locustfile FILE):
  Subclass moneypath.loadtest.in_locust.user.PaymentUser and define the endpoints your API has; the base
  class names the requests, adds the headers, paces and retries them and follows the scenario
  (`python -m pydoc moneypath.loadtest.in_locust.user` for the rest):

    from moneypath.loadtest.in_locust.user import PaymentUser

    class Buyer(PaymentUser):
        def authorize(self, order):
            return self.post("authorize", order, "/charges", json={
                "provider": order.provider, "currency": order.currency,
                "amount_minor": order.amount_minor, "reference": order.reference})

  capture(self, payment), refund(self, payment, amount_minor) and payout(self, order) likewise.
  A payment of several calls (a checkout passing an id along, GraphQL failures inside HTTP 200):
  instead of authorize, set `template = "path/to/requests.yaml"` (a drill request template with
  a flow of steps, relative to the locustfile).
  The scenario file (--scenario-file, default scenarios.yaml beside the locustfile) gives the
  rate, users, mix, providers, currencies, methods and amounts (checked against the catalog),
  the scenarios and their faults (at: faultproxy, providersim or service).
  Locust runs FILE as: locust -f FILE,<moneypath's harness> --headless --host URL (plus Locust's
    --csv/--json-file): Locust's own options only. moneypath's reach the locustfile in the
    environment: $MONEYPATH_SCENARIO, _SCENARIO_FILE, _RATE, _USERS, _DURATION_S, _NO_AUTH,
    _PROVIDERSIM, _FAULTPROXY, _EXPORTER_PORT, $MONEYPATH_TOKEN (the bearer sent, unset with
    --no-auth) and $MONEYPATH_ADMIN_TOKEN (scope admin:faults, for faults).
  A plain locustfile (an HttpUser, nothing imported from moneypath) runs too: the scenario's
    shape (users over time, --users, --duration), its faults and the exporter apply; its users
    send their own requests at their own pace and with their own headers, so it needs no token,
    --rate is refused (use --users), and so are scenarios with retries, overload or another user
    kind; the Locust p99 gate is skipped unless it names requests "authorize [...]".
  The gates read Locust's request names: "<action> [<provider>]", action one of authorize,
  capture, refund, payout (the latency gates: authorize; the failure gates: every final
  outcome). The provider is the one the answer names (its top-level "provider"); when the
  answer names none (a failure, or an API that does not say) it is "[requested <provider>]":
  what the order asked for, not necessarily where the service sent it. A retried attempt ends
  in " (attempt)" and the client's final outcome is request type RETRIED; a refusal (503 or 429
  with Retry-After) is request type REFUSED (the overload gates judge them); CHECK entries are
  the client's idempotency replay checks. With a template's flow each step is its own request
  "<step> [<provider>]", the authorizing one "authorize:<step> [...]" (the latency gates), and
  the whole flow request type FLOW "<flow name> [<provider>]", failed with "<step>: <reason>":
  the failure gates judge the flows."""


def _seconds(text: str) -> float:
    """90, 90.5 or a Prometheus duration such as 30s, 5m, 1h."""
    try:
        value = float(text)
    except ValueError:
        try:
            value = duration_seconds(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds or a duration like 30s, 5m, 1h") \
                from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number of seconds more than 0")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _count(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {low}")
        return value
    return parse


def _percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage") from None
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1000")
    return value / 100


def _utilization(text: str) -> float:
    """A share of the knee in percent: more than 0, at most 100."""
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 and at most 100 (percent of the knee)")
    return value / 100


def _address(text: str) -> str:
    from moneypath.loadtest.command.locust_processes import split_address

    try:
        split_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", type=where.url_arg, metavar="URL",
                   help="the payment service to load (default: the stack running from --state-dir, else a fresh "
                        "stack started for the run and stopped after it)")
    where.prometheus_arg(p)  # --prometheus: the one that scrapes the service, for the service-side gates
    p.add_argument("--no-prometheus", action="store_true",
                   help="judge without Prometheus: the service-side gates (duplicate charges, ledger, reconciliation, "
                        "the service's latency and errors) are skipped and the verdict says so. Without this flag a "
                        "run with no Prometheus, or whose Prometheus fails, fails those gates")
    p.add_argument("--providersim", type=where.url_arg, metavar="URL",
                   help="provider simulator, for scenarios that set faults there (default: the stack's)")
    p.add_argument("--faultproxy", type=where.url_arg, metavar="URL",
                   help="the fault proxy between the service and its providers (`moneypath faultproxy`), for "
                        "scenarios with faults at: faultproxy")
    p.add_argument("--no-auth", action="store_true",
                   help="the service takes no API token: none is needed or sent")
    p.add_argument("--token", metavar="TOKEN",
                   help="the API bearer token to send (default: $MONEYPATH_TOKEN, which keeps it out of the process "
                        "list, or one minted from $MONEYPATH_TOKEN_SECRET or the --state-dir stack's secret)")
    p.add_argument("--workers", type=_count(0), default=0, metavar="N",
                   help="Locust worker processes beside the master, on loopback (default 0: one local process); with "
                        "--bind, the workers the master waits for, started elsewhere by `moneypath loadtest-worker`")
    p.add_argument("--bind", type=_address, metavar="HOST:PORT",
                   help="with --workers N: the master listens on HOST:PORT and waits for N workers started on other "
                        "machines (`moneypath loadtest-worker --master HOST:PORT`), starting none itself; a worker whose "
                        "Locust, moneypath, locustfile or scenario file differs from the master's is refused")
    p.add_argument("--wait-workers", type=_seconds, metavar="SECONDS",
                   help="with --bind: how long the master waits for its N workers before it gives up (default 120)")
    p.add_argument("--out", metavar="DIR", default="reports", help="where report directories go (default: reports)")
    p.add_argument("--locustfile", metavar="FILE", type=Path,
                   help="your own locustfile (the contract is below); default: loadtests/locustfile.py beside the "
                        "catalog, where `moneypath init` writes one (in moneypath's repository: the reference "
                        "service's)")
    p.add_argument("--scenario-file", metavar="FILE", type=Path,
                   help="scenario definitions (default: scenarios.yaml beside the locustfile)")


def add_commands(commands, catalog_arg, state_arg) -> None:
    lt = commands.add_parser(
        "loadtest", help="run a Locust scenario against the payment service and judge it against the SLO gates",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a load-test scenario of the scenario file (the shipped one, for the reference service:\n"
                    "checkout, peak, spike, soak, overload, retry_storm, slow_provider, healthz) with Locust headless, one\n"
                    "progress line every few seconds, then judge it against gates taken from the catalog's SLOs:\n"
                    "  p99 authorization latency <= the latency SLO threshold (Locust and the service's histogram;\n"
                    "  for a flow of several calls the service's histogram only, not measured without Prometheus)\n"
                    "  with flow_p99_ms in the scenario: the whole flow's p99 (first step to last, Locust) <= it\n"
                    "  failure ratio <= the availability SLO's error budget (Locust and the service's counters)\n"
                    "  zero duplicate charges (and one payment per idempotency key in a retry storm), ledger\n"
                    "  balanced, reconciliation caught up after the run; a gate of a feature the catalog\n"
                    "  switches off is skipped and the verdict says so\n"
                    "  soak (a scenario with drift: true): service CPU per authorization, authorize p99, resident\n"
                    "  memory and database bytes per payment may grow at most 5 % from the first minute after\n"
                    "  the warm-up to the last\n"
                    "  overload (a scenario with overload:, its spike past saturation; --rate = the knee):\n"
                    "  goodput >= 90 % of --rate, refusals (503/429 + Retry-After) fast, admitted requests within\n"
                    "  the SLOs, captures and refunds refused no more than new payments, healthy 30 s after\n"
                    "  with --baseline: the same offered rate (within loadtest.rps_tolerance, default 10 %), then p99\n"
                    "  and throughput within tolerance of a previous run (loadtest.p99_tolerance, default 20 %)\n"
                    "  without Prometheus the service-side gates fail, unless --no-prometheus (then skipped)\n"
                    "Writes reports/loadtest-<scenario>-<time>/ (report.html, report.md, result.json, PNG plots,\n"
                    "Locust's files) and exits 1 with one BREACH line per failed gate, 3 when none failed but one\n"
                    "was not measured. Rates are requests/s, or flows/s when a payment is a request template's flow.",
        epilog="examples:\n  moneypath loadtest checkout --rate 20 --duration 60\n"
               "  moneypath loadtest soak --rate 340 --duration 10m\n"
               "  moneypath loadtest overload --rate 280   # the knee from `moneypath capacity`\n"
               "  moneypath loadtest peak --workers 2\n"
               "  moneypath loadtest peak --workers 4 --bind 10.0.0.10:5557   # workers: moneypath loadtest-worker\n"
               "  moneypath loadtest checkout --baseline reports/loadtest-checkout-20260101-120000/result.json\n"
               "  MONEYPATH_TOKEN=... moneypath loadtest checkout --host https://staging.example --prometheus "
               "http://prometheus.example:9090\n"
               "  moneypath loadtest checkout --locustfile loadtests/locustfile.py --catalog moneypath.yaml "
               "--host http://127.0.0.1:8080 --no-auth --no-prometheus\n\n" + LOCUSTFILE_CONTRACT)
    lt.add_argument("scenario", metavar="SCENARIO", help="scenario name from the scenario file")
    lt.add_argument("--users", type=_count(1), metavar="N",
                    help="users at 1x (default: the file's baseline, scaled with --rate)")
    lt.add_argument("--rate", type=_positive_float, metavar="RPS",
                    help="requests per second at 1x, flows per second when a payment is a request template's flow "
                         "(default: the file's baseline); peak and spike multiply it")
    lt.add_argument("--duration", type=_seconds, metavar="SECONDS", help="run time, e.g. 90, 5m, 1h "
                    "(default: the scenario's)")
    _target_args(lt)
    lt.add_argument("--baseline", type=Path, metavar="FILE", help="result.json of a previous run to compare with")
    lt.add_argument("--reconcile-within", type=_seconds, default=60.0, metavar="SECONDS",
                    help="reconciliation must have caught up this long after the run (default 60)")
    catalog_arg(lt)
    state_arg(lt)
    lt.set_defaults(run=_loadtest)

    cap = commands.add_parser(
        "capacity", help="find the knee with steps of increasing load, then project instances and cost at 1x/10x/100x",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Find how much one instance of the service carries, and what that costs at scale:\n"
                    "  1. saturation: users send the checkout mix back to back (closed loop) for a step's length;\n"
                    "     what they achieve is the saturation throughput, and the CPU of every local process\n"
                    "     (service, provider simulator, Locust, Prometheus) and the service's ledger-write time\n"
                    "     name the resource that ran out (service CPU, the database write lock, a provider,\n"
                    "     the load generator, the machine's cores)\n"
                    "  2. steps: the mix at fixed rates (paced, open loop), by default 40-105 % of the\n"
                    "     saturation throughput, until a step breaks the latency or failure gates or delivers\n"
                    "     less than asked; then up to two midpoints narrow the knee (the last step that held)\n"
                    "  3. the Universal Scalability Law fitted to throughput against requests in flight\n"
                    "  4. 1x, 10x and 100x of --current-rps authorizations/s: instances (knee per instance),\n"
                    "     expected p99 and cost per transaction from the catalog's cost model. A shared\n"
                    "     database is not multiplied: on the stack's SQLite file (one writer) more than one\n"
                    "     instance is marked not feasible; --postgres URL measures the same service on\n"
                    "     PostgreSQL with 1 and capacity.postgres_workers (default 2) processes and projects those\n"
                    "     instances with the contention measured between them. Your service's processes on this\n"
                    "     machine (capacity.service_pids in moneypath.run.yaml) are measured to name the limit.\n"
                    "Rates count what the locustfile paces: flows/s when its user names a request template (each\n"
                    "flow that template's steps), requests/s otherwise.\n"
                    "One progress line per step with the time left. Writes reports/capacity-<time>/ (HTML with\n"
                    "the throughput/latency curve, the knee and the USL fit; Markdown; JSON).",
        epilog="examples:\n  moneypath capacity --current-rps 5\n"
               "  moneypath capacity --start 20 --step 40 --max 180 --step-duration 20\n"
               "  moneypath capacity --postgres postgresql+psycopg://app@127.0.0.1:5432/ledger")
    cap.add_argument("--current-rps", type=_positive_float, default=5.0, metavar="R",
                     help="today's volume in authorizations per second (default 5)")
    cap.add_argument("--start", type=_positive_float, metavar="RPS",
                     help="first step in what the locustfile paces: requests/s, or flows/s for a request template's "
                          "flow (default: 40 %% of the saturation throughput; with --step and --max: 20, 20, 300 for "
                          "those not given)")
    cap.add_argument("--step", type=_positive_float, metavar="RPS", help="increase per step (see --start)")
    cap.add_argument("--max", type=_positive_float, metavar="RPS", dest="max_rate", help="last step at most "
                     "(see --start)")
    cap.add_argument("--step-duration", type=_seconds, default=30.0, metavar="SECONDS",
                     help="length of each step and of the saturation probe (default 30)")
    cap.add_argument("--saturation-users", type=_count(1), default=32, metavar="N",
                     help="closed-loop users of the first saturation probe, doubled (up to 3 probes) while no "
                          "resource is at its ceiling and more users still add throughput (default 32)")
    where.option(cap, "capacity.postgres", metavar="URL",
                 help="also measure the service on this PostgreSQL database (postgresql+psycopg://...; only with the "
                      "stack capacity starts itself) and project beside it (default: capacity.postgres in "
                      "moneypath.run.yaml)")
    cap.add_argument("--no-confirm", action="store_true",
                     help="stop at the first failed step (default: run a failed step once more before stopping)")
    cap.add_argument("--utilization", type=_utilization, default=1.0, metavar="PCT",
                     help="plan instances to run at this share of the knee, 0 < PCT <= 100 (default 100: the knee per "
                          "instance)")
    _target_args(cap)
    catalog_arg(cap)
    state_arg(cap)
    cap.set_defaults(run=_capacity)


def _where(args) -> str | None:
    """What moved to the environment and the run config (docs/configuration.md), on `args`: the target's URLs when
    not given (read into the RunSpec by _spec), a stack's instances, the baseline tolerances, the capacity plan's
    PostgreSQL workers and service processes. A problem (one line) or None."""
    merged = where.settings(args)
    args.host = merged.get("target.service", args.host)
    for dest, key in (("prometheus", "target.prometheus"), ("providersim", "target.providersim"),
                      ("faultproxy", "target.faultproxy")) if args.host else ():  # a team's target: all of it
        setattr(args, dest, merged.get(key, getattr(args, dest, None)))
    if not args.token and not args.no_auth:  # the API's token, or none: the environment's or the run config's
        args.token = merged.get("loadtest.token", None)
        args.no_auth = bool(where.value(args, "loadtest.no_auth")) and not args.token
    if args.command == "loadtest":
        args.instances = int(where.value(args, "stack.instances"))
        args.p99_tolerance = where.value(args, "loadtest.p99_tolerance") / 100
        args.rps_tolerance = where.value(args, "loadtest.rps_tolerance") / 100
    else:
        args.postgres_workers = int(where.value(args, "capacity.postgres_workers"))
        if args.postgres_workers < 2:
            return "capacity.postgres_workers must be at least 2"
        try:
            args.service_pid = [int(p) for p in where.value(args, "capacity.service_pids")]
        except ValueError:
            return "capacity.service_pids: each is a process id (a whole number)"
    return None


# The load test's own names for the target's URLs (moneypath.cli.where.TARGETS).
TARGET_DESTS = {"service": "host", "prometheus": "prometheus", "providersim": "providersim", "faultproxy": "faultproxy"}


def _spec(args):
    """(the RunSpec of where this load test or capacity plan runs, built once, or None; a problem or None)."""
    from moneypath.stack.state import StackError

    if problem := _where(args):
        return None, problem
    try:
        return where.run_spec(args, TARGET_DESTS), None
    except StackError as exc:
        return None, str(exc)


def _say(text: str) -> None:
    print(text, flush=True)


def _warn(text: str) -> None:
    print(text, file=sys.stderr)


def _loadtest(args) -> int:
    from moneypath.loadtest.command import counts, inputs, run_report, session
    from moneypath.loadtest.command.soak import drift

    spec, problem = _spec(args)
    if problem:
        _warn(f"moneypath: {problem}")
        return ExitCode.USAGE
    try:
        plan = session.prepare(args, spec)
    except inputs.UsageError as exc:
        _warn(f"moneypath: {exc}")
        return ExitCode.USAGE
    try:
        run = session.execute(plan, _say, _warn)
    except session.RunFailed as exc:
        _warn(f"moneypath: {exc}")
        return exc.exit_code
    for line in run_report.gate_table(run.result.gates):
        _say(line)
    if run.outcome.drift is not None:
        for line in drift.summary_lines(run.outcome.drift):
            _say(line)
    for line in (run.result.figures.get("load_generator") or {}).get("lines", []):
        _say(f"load generator: {line}")
    if conserved := counts.line(run.result.figures.get("conservation")):
        _say(conserved)
    _say(f"report: {run.final / 'report.html'} (and report.md, result.json)")
    for gt in run.result.gates:  # a gate not measured is no breach: it is named as what it is
        if gt.check.breach:
            _warn(f"{'BREACH' if gt.outcome is FAIL else 'NOT MEASURED'}: {gt.reason}")
    _say(session.verdict(run.result, args.scenario, args.no_prometheus))
    return exit_code([run.result.outcome])


def _capacity(args) -> int:
    from moneypath.loadtest.command import inputs, session
    from moneypath.loadtest.command.capacity import plan_report, plan_session
    from moneypath.loadtest.command.capacity.plan import plan_verdict

    spec, problem = _spec(args)
    if problem:
        _warn(f"moneypath: {problem}")
        return ExitCode.USAGE
    try:
        plan = plan_session.prepare(args, spec)
    except inputs.UsageError as exc:
        _warn(f"moneypath: {exc}")
        return ExitCode.USAGE
    try:
        result, final = plan_session.execute(plan, _say, _warn)
    except session.RunFailed as exc:
        _warn(f"moneypath: {exc}")
        return exc.exit_code
    for line in plan_report.table_lines(result):
        _say(line)
    _say(f"report: {final / 'capacity.html'} (and capacity.md, capacity.json)")
    verdict = plan_verdict(result)
    if not verdict.ok:
        _warn(f"moneypath: {verdict.why}")
    return EXIT_CODES[verdict.outcome]
