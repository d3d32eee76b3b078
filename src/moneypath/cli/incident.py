"""`moneypath incident classify|clock`: DORA's classification of an incident from Prometheus, and its reporting
clocks (stored times, deadlines, an exporter Prometheus scrapes for the IncidentReportDue ticket)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from moneypath._common.exit_codes import ExitCode
from moneypath.cli import where

CLASSIFY_EPILOG = """Each criterion of RTS 2024/1772 is met, not met or not measured, with its figures and query.
Exit status: 0 not major, 1 major, 3 not measured (a threshold that could make it major is unmeasured:
give what only a person can judge with --assess), 2 bad usage. Times: RFC 3339 (YYYY-MM-DDThh:mm:ssZ),
now, or a duration ago (45m). docs/incident-classification.md says what it computes and cannot know."""


def add_commands(commands, catalog_arg, state_arg) -> None:
    incident = commands.add_parser("incident", help="classify an incident under DORA and keep its reporting clocks",
                                   description="DORA's major-incident classification from live data, and the "
                                               "reporting deadlines of a major incident.")
    actions = incident.add_subparsers(dest="incident_command", metavar="ACTION")
    actions.required = True
    classify = actions.add_parser("classify", help="judge RTS 2024/1772's criteria from Prometheus",
                                  description="Classify an incident from its start until now (or --until) on each "
                                              "business service of the catalog, or the one --service names.",
                                  epilog=CLASSIFY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    catalog_arg(classify)
    state_arg(classify)
    where.prometheus_arg(classify, required=True)  # --prometheus: the one to query
    classify.add_argument("--since", metavar="T", required=True, help="when the incident started")
    classify.add_argument("--until", metavar="T", default="now", help="the end of its window (default now)")
    classify.add_argument("--service", metavar="NAME", help="a business service of the catalog (default: each)")
    classify.add_argument("--assess", metavar="NAME=met|not-met", action="append", default=[],
                          help="what only a person can judge (counterparts, relevant_clients, reputational, "
                               "geographical, data_losses, malicious_access, economic); repeatable")
    classify.add_argument("--step", metavar="SECONDS", type=float, help="resolution of the downtime count "
                          "(default: the window / 60, between 1 and 60 s)")
    classify.add_argument("--record", metavar="INCIDENT", help="when the result is major, store its "
                          "classification time on this incident's clock (started if it is not)")
    classify.add_argument("--json", action="store_true", help="print the classification as JSON")
    classify.set_defaults(run=_classify)

    clock = actions.add_parser("clock", help="the reporting clocks of a major incident (RTS 2025/301)",
                               description="Stored times of awareness, classification and each report; the "
                                           "deadlines they give; an exporter for Prometheus.")
    clocks = clock.add_subparsers(dest="clock_command", metavar="ACTION")
    clocks.required = True
    start = clocks.add_parser("start", help="start an incident's clocks, or set its classification time")
    start.add_argument("incident", metavar="INCIDENT", help="the incident's reference (letters, digits, . _ -)")
    start.add_argument("--aware-at", metavar="T", help="when the team became aware of it (default now, for a new one)")
    start.add_argument("--classified-at", metavar="T", help="when it was classified major (the initial clock)")
    report = clocks.add_parser("report", help="record a report as submitted (the next clock starts)")
    report.add_argument("incident", metavar="INCIDENT")
    report.add_argument("kind", metavar="KIND", help="initial, intermediate or final")
    report.add_argument("--at", metavar="T", default="now", help="when it was submitted (default now)")
    show = clocks.add_parser("show", help="print the deadlines of one incident or of every open one")
    show.add_argument("incident", metavar="INCIDENT", nargs="?")
    show.add_argument("--json", action="store_true", help="as JSON")
    close = clocks.add_parser("close", help="close an incident: its deadlines are no longer exported")
    close.add_argument("incident", metavar="INCIDENT")
    close.add_argument("--at", metavar="T", default="now", help="when (default now)")
    serve = clocks.add_parser("serve", help="serve the clocks as Prometheus gauges on /metrics")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=9097, help="port (default 9097)")
    for parser in (start, report, show, close, serve):
        catalog_arg(parser)
        state_arg(parser)
        parser.set_defaults(run=_clock)


def _fail(message: str) -> int:
    print(f"moneypath incident: {message}", file=sys.stderr)
    return ExitCode.USAGE


def _assessed(items: list[str]) -> dict[str, bool]:
    from moneypath.check.classification import ASSESSED

    out = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in ASSESSED or value not in ("met", "not-met"):
            raise ValueError(f"--assess {item!r}: give NAME=met or NAME=not-met, NAME one of {', '.join(ASSESSED)}")
        out[name] = value == "met"
    return out


def _classify(args) -> int:
    from moneypath._common.prometheus import Prometheus, PrometheusError
    from moneypath.catalog import load_catalog
    from moneypath.check import report_clocks as clocks
    from moneypath.check.classification import MAJOR, NOT_MAJOR, classify, measure

    catalog = load_catalog(args.catalog)
    try:
        assessed = _assessed(args.assess)
        now = time.time()
        start, end = clocks.parse_time(args.since, now), clocks.parse_time(args.until, now)
    except (ValueError, clocks.ClockError) as exc:
        return _fail(str(exc))
    if end <= start:
        return _fail(f"--since {args.since} is not before --until {args.until}")
    names = [args.service] if args.service else list(catalog.business_services)
    if not names:
        return _fail(f"{catalog.path}: no business_services: declare the services to classify (their "
                     "transactions, what counts as affected, whether they are critical)")
    if args.service and args.service not in catalog.business_services:
        return _fail(f"--service {args.service}: not a business service of {catalog.path} "
                     f"({', '.join(catalog.business_services) or 'none'})")
    results = []
    try:
        with Prometheus(args.prometheus) as prom:
            for name in names:
                results.append(classify(measure(prom, catalog, name, start, end, assessed, args.step),
                                        catalog.dora.thresholds))
    except PrometheusError as exc:
        print(f"moneypath incident classify: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    overall = MAJOR if any(r.result == MAJOR for r in results) else (
        NOT_MAJOR if all(r.result == NOT_MAJOR for r in results) else "not measured")
    if args.record and overall == MAJOR:
        try:
            path = clocks.state_path(args.state_dir)
            data = clocks.load(path)
            clocks.start(data, args.record, start if args.record not in data["incidents"] else None,
                         None if (data["incidents"].get(args.record) or {}).get("classified_at") else end,
                         {"result": overall, "services": [r.service for r in results if r.result == MAJOR]})
            clocks.save(path, data)
        except clocks.ClockError as exc:
            return _fail(str(exc))
    if args.json:
        print(json.dumps({"since": clocks.rfc3339(start), "until": clocks.rfc3339(end), "result": overall,
                          "services": [r.to_dict() for r in results]}, indent=1))
    else:
        for r in results:
            print(f"{r.service}: {r.result.upper()} — {r.reason}")
            for c in r.criteria:
                print(f"  {c.status:<12} {c.name:<18} {c.article}: {c.figures}")
                if c.query:
                    print(f"  {'':<12} {'':<18} query: {c.query}")
        print(f"classification ({clocks.rfc3339(start)} to {clocks.rfc3339(end)}): {overall}"
              + (f"; clock of {args.record} updated" if args.record and overall == MAJOR else ""))
    return {MAJOR: 1, NOT_MAJOR: 0}.get(overall, 3)


def _clock(args) -> int:
    from moneypath.catalog import load_catalog
    from moneypath.check import report_clocks as clocks

    catalog = load_catalog(args.catalog)
    path = clocks.state_path(args.state_dir)
    if args.clock_command == "serve":
        from moneypath.stack.clock_exporter import serve

        print(f"incident clocks of {path} on http://{args.host}:{args.port}/metrics", flush=True)
        serve(catalog, path, args.host, args.port)
        return 0
    try:
        data = clocks.load(path)
        if args.clock_command == "show":
            return _show(catalog, data, args.incident, args.json)
        if args.clock_command == "start":
            clocks.start(data, args.incident, clocks.parse_time(args.aware_at) if args.aware_at else None,
                         clocks.parse_time(args.classified_at) if args.classified_at else None)
        elif args.clock_command == "report":
            clocks.submit(data, args.incident, args.kind, clocks.parse_time(args.at))
        else:
            clocks.close(data, args.incident, clocks.parse_time(args.at))
        clocks.save(path, data)
    except clocks.ClockError as exc:
        return _fail(str(exc))
    return _show(catalog, data, args.incident, False)


def _show(catalog, data: dict, incident: str | None, as_json: bool) -> int:
    from moneypath.check import report_clocks as clocks

    chosen = {k: v for k, v in data["incidents"].items() if (k == incident if incident else not v.get("closed_at"))}
    if incident and not chosen:
        return _fail(f"no incident {incident!r} (started: {', '.join(sorted(data['incidents'])) or 'none'})")
    out = {}
    for name, entry in sorted(chosen.items()):
        due = clocks.deadlines(entry, catalog.dora.clocks)
        submitted = entry.get("reports", {})
        out[name] = {**entry, "deadlines": {k: {"due_at": clocks.rfc3339(t) if t else None, "basis": basis,
                                                "submitted": submitted.get(k)} for k, (t, basis) in due.items()}}
    if as_json:
        print(json.dumps(out, indent=1))
        return 0
    if not out:
        print("no open incident")
    for name, entry in out.items():
        state = f"closed {entry['closed_at']}" if entry.get("closed_at") else "open"
        print(f"{name} ({state}): aware {entry['aware_at']}, classified major "
              f"{entry.get('classified_at') or '(not yet)'}")
        for kind, d in entry["deadlines"].items():
            sent = d["submitted"]
            sent_text = f"submitted {sent[-1] if isinstance(sent, list) else sent}" if sent else "not submitted"
            print(f"  {kind:<13} due {d['due_at'] or '(not fixed yet)':<21} {sent_text:<32} ({d['basis']})")
    return 0
