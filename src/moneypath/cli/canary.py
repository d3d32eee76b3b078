"""`moneypath canary judge|serve`: judge a release taking a slice of traffic against a baseline of the same age."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from moneypath._common.exit_codes import ExitCode
from moneypath.cli import where

if TYPE_CHECKING:
    from moneypath.canary.results import CanaryVerdict

JUDGE_EPILOG = """A SELECTOR is PromQL label matchers without braces, added to every query of the catalog's signals:
  --canary 'track="canary"' --baseline 'track="baseline"'   or   --canary 'instance="10.0.0.7:8000"' ...
The baseline is a deployment of the current release started with the canary (same age, same load share), not
the fleet. --since is when the canary started (RFC 3339, Unix seconds, or a duration ago such as 30m); without
it, the newest process_start_time_seconds among the canary's series.

Verdicts and exit codes: 0 pass (every metric reached its planned sample without crossing its boundary, every
money invariant held), 1 fail (a metric crossed its boundary, or a duplicate charge, a ledger imbalance or a write
lost in the canary), 3 inconclusive (too little data: it says how many more canary events and minutes it needs;
or something not measured: one line each), 2 bad usage. Past the catalog's canary.max_inconclusive the policy
holds (exit 3) or fails (exit 1). The sequential tests' state is kept in <state-dir>/canary-state.json, so each
call is one more look of the same tests.

Metrics (catalog canary.metrics, default every one the catalog's signals allow): approval_ratio, decline_ratio,
authorization_failure_ratio, provider_error_ratio, provider_timeout_ratio (per provider), slow_authorizations,
latency_shift (per quantile), ledger_write_failures, dead_letters, cost_per_transaction. docs/canary.md says how
each is counted and tested."""

SERVE_EPILOG = """GET  /v1/verdict?canary=SEL&baseline=SEL[&since=RFC3339][&metric=KEY...]  -> 200 {"verdict": ...}
POST /v1/flagger/check               (Flagger rollout webhook, metadata {canary, baseline, since}) -> 200, or
                                     409 problem+json when the canary failed
POST /v1/flagger/confirm-promotion   -> 200 on pass, 423 while inconclusive (holds), 409 on fail
Bad input is 400 problem+json. docs/canary.md shows how Argo Rollouts and Flagger call it."""


def add_commands(commands, catalog_arg, state_arg) -> None:
    canary = commands.add_parser("canary", help="judge a canary release against a baseline of the same age",
                                 description="Compare a canary with a baseline from Prometheus on the catalog's "
                                             "money-path signals: a sequential test per metric, money invariants "
                                             "as hard gates, and three verdicts: pass, fail, inconclusive.")
    actions = canary.add_subparsers(dest="canary_command", metavar="ACTION")
    actions.required = True
    judge = actions.add_parser("judge", help="one judge pass (or --watch until a verdict)",
                               description="Judge the canary once, or every interval with --watch until it passes "
                                           "or fails.", epilog=JUDGE_EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    catalog_arg(judge)
    state_arg(judge)
    _common(judge)
    judge.add_argument("--canary", metavar="SELECTOR", required=True, help="label matchers of the canary's series")
    judge.add_argument("--baseline", metavar="SELECTOR", required=True, help="label matchers of the baseline's series")
    judge.add_argument("--since", metavar="T", help="when the canary started: RFC 3339, Unix seconds, or a duration "
                                                    "ago (30m); default: its processes' newest start time")
    judge.add_argument("--metric", metavar="KEY", action="append", help="judge only this metric (repeat for more)")
    judge.add_argument("--json", action="store_true", help="print the result as JSON (the machine report)")
    judge.add_argument("--html", metavar="PATH", help="write the report for people (one HTML page with plots)")
    judge.add_argument("--watch", action="store_true", help="judge every interval, printing progress, until pass, "
                                                            "fail or the policy's max_inconclusive")
    judge.add_argument("--interval", metavar="DURATION", help="--watch's pause (default: the catalog's "
                                                              "canary.interval, 30s)")
    judge.set_defaults(run=_judge)
    serve = actions.add_parser("serve", help="the judge over HTTP for Argo Rollouts and Flagger",
                               description="Serve the judge's verdicts over HTTP.", epilog=SERVE_EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    catalog_arg(serve)
    state_arg(serve)
    _common(serve)
    serve.add_argument("--listen", metavar="HOST:PORT", default="127.0.0.1:9097",
                       help="address to listen on (default 127.0.0.1:9097)")
    serve.set_defaults(run=_serve)


def _common(parser) -> None:
    where.prometheus_arg(parser, required=True)  # --prometheus: the one that scrapes both arms
    parser.add_argument("--database", metavar="URL", help="the service's database (SQLAlchemy URL, read-only): the "
                                                          "catalog's money_checks.breaks name the payments behind a "
                                                          "broken invariant and find writes lost")


def _state_path(args) -> Path:
    from moneypath.catalog.conventions import CANARY_STATE_FILE

    return Path(args.state_dir) / CANARY_STATE_FILE


def _summary(result: CanaryVerdict) -> list[str]:
    from moneypath._common.verdict import jsonable

    lines = [f"canary: {result.verdict} — {result.reason}"]
    for m in result.metrics:
        if m.canary is None:
            continue
        c, b, f = m.canary, m.baseline, jsonable(m.figures)  # NaN (a share of nothing) as None
        p = f.get("p_value")
        lines.append(f"  {m.id}: canary {c.bad:.4g}/{c.total:.4g}, baseline {b.bad:.4g}/{b.total:.4g}"
                     + (f", effect {f['effect']:+.4f}" if f.get("effect") is not None else "")
                     + (f", p {p:.3g}" if p is not None else "") + f": {m.status}")
    for i in result.invariants:
        lines.append(f"  invariant {i.invariant}: {i.status} — {i.reason}")
    return lines


def _judge(args) -> int:
    from moneypath._common.verdict import NOT_MEASURED
    from moneypath.canary.judge import Judge
    from moneypath.canary.queries import BadUsage
    from moneypath.canary.reports import to_json, write_html
    from moneypath.catalog import duration_seconds, load_catalog

    catalog = load_catalog(args.catalog)
    try:
        interval = duration_seconds(args.interval or catalog.canary.interval)
    except ValueError:
        print(f"moneypath: --interval {args.interval!r} is not a duration such as 30s", file=sys.stderr)
        return ExitCode.USAGE
    judge = Judge(catalog, args.prometheus, _state_path(args), args.database)
    # --watch ends at the policy's max_inconclusive after the canary started, or after the watch started when the
    # start is unknown (nothing measured: a Prometheus that never answers must not hold a pipeline for ever)
    give_up = time.monotonic() + duration_seconds(catalog.canary.max_inconclusive)
    while True:
        try:
            result = judge.judge(args.canary, args.baseline, args.since, args.metric)
        except BadUsage as exc:
            print(f"moneypath: {exc}", file=sys.stderr)
            return ExitCode.USAGE
        done = result.outcome is not NOT_MEASURED or result.held or not args.watch or time.monotonic() > give_up
        if args.watch and not done:
            print(f"{result.at} inconclusive — {result.reason}", file=sys.stderr, flush=True)
            time.sleep(interval)
            continue
        break
    if args.html:
        write_html(result, Path(args.html))
    for line in result.not_measured:
        print(line, file=sys.stderr)
    if args.json:
        sys.stdout.write(to_json(result))
    else:
        print("\n".join(_summary(result)))
        if args.html:
            print(f"wrote {args.html}")
    return result.exit_code


def _serve(args) -> int:
    from moneypath.canary.service import serve
    from moneypath.catalog import load_catalog

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        print(f"moneypath: --listen {args.listen!r} is not HOST:PORT, e.g. 127.0.0.1:9097", file=sys.stderr)
        return ExitCode.USAGE
    catalog = load_catalog(args.catalog)
    print(json.dumps({"listening": f"http://{host}:{port}", "prometheus": args.prometheus}), flush=True)
    serve(host.strip("[]"), int(port), catalog, args.prometheus, _state_path(args), args.database)
    return 0
