"""`moneypath catalog check|show`: validate the catalog, or print what it declares (tables, or JSON)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from moneypath.catalog import Catalog, CatalogError, load_catalog, summary

if TYPE_CHECKING:
    from rich.console import Console


def add_commands(commands, catalog_arg, state_arg) -> None:
    catalog = commands.add_parser("catalog", help="check or show the catalog (moneypath.yaml)",
                                  description="The catalog declares every signal, SLO, alert, provider, cost and route.")
    catalog_cmds = catalog.add_subparsers(dest="catalog_command", metavar="ACTION")
    catalog_cmds.required = True
    check = catalog_cmds.add_parser("check", help="validate the catalog; one line per problem, exit 3 if any",
                                    description="Validate the catalog: schema, naming conventions, label value sets, "
                                                "features, SLO selectors, routes; then generate the rules, routing and "
                                                "dashboards in memory and run every check `build` and the rule part of "
                                                "`lint` would (your own alerts' expr included, promtool when "
                                                "installed). Prints file:line: key.path: problem.")
    catalog_arg(check)
    show = catalog_cmds.add_parser("show", help="print signals, SLOs, alerts and routes as tables",
                                   description="Print what the catalog declares, with each signal's worst-case "
                                               "series count (cardinality budget).")
    catalog_arg(show)
    show.add_argument("--json", action="store_true", help="print the resolved catalog as JSON instead")
    check.set_defaults(run=_check)
    show.set_defaults(run=_show)


def _check(args) -> int:
    catalog = load_catalog(args.catalog)
    # Everything `build` and the rule part of `lint` check, on artifacts generated in memory: a catalog that
    # passes here builds. Runbook pages are the team's own files (`lint` checks them): only counted here.
    from moneypath.check.instances import NO_PARSER
    from moneypath.check.lint import check_generated
    from moneypath.generate.prometheus_config import retention

    result = check_generated(catalog, retention(catalog))
    if result.problems:
        raise CatalogError(result.problems)
    s = summary(catalog)
    print(f"{args.catalog}: OK — {s['signals']} signals (at most {s['max_series']} series), "
          f"{s['slos']} SLOs, {s['alerts']} alerts, {s['providers']} providers")
    if result.alerts_without_page:
        pages = os.path.join(os.path.dirname(catalog.path), "runbooks", "")
        print(f"no runbook page yet in {pages} for {len(result.alerts_without_page)} of {result.alerts} alerts "
              "(SLO burn-rate alerts included; `moneypath lint` names them)")
    if not result.promtool:
        print("promtool is not installed: the rule expressions were checked without parsing them")
    if not result.instances:
        print(NO_PARSER)
    return 0


def _show(args) -> int:
    catalog = load_catalog(args.catalog)
    if args.json:
        print(json.dumps(catalog.model_dump(mode="json", by_alias=True), indent=2))
        return 0
    print_catalog(catalog)
    return 0


def print_catalog(c: Catalog, console: Console | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # piped: wide enough that metric names are never cut
            console = Console(width=160)
    s = summary(c)
    console.print(f"[bold]{c.service}[/] — catalog {c.path}: {s['signals']} signals, at most "
                  f"{s['max_series']} series, {s['slos']} SLOs, {s['alerts']} alerts")

    signals = Table(title="Signals", title_justify="left")
    for col in ("metric", "type", "labels (allowed values, + other)", "max series"):
        signals.add_column(col, justify="right" if col == "max series" else "left")
    for sig in c.signals.values():
        labels = ", ".join(f"{name}({len(values)})" for name, values in sig.labels.items()) or "—"
        signals.add_row(sig.name, sig.type + (" ⌁" if sig.exemplars else ""), labels, str(sig.max_series()))
    console.print(signals)
    console.print("⌁ = exemplars with the trace id")

    slos = Table(title="SLOs", title_justify="left")
    for col in ("slo", "objective", "window", "SLI"):
        slos.add_column(col)
    for key, slo in c.slos.items():
        sli = slo.sli
        text = (f"{sli.latency.signal} under {sli.latency.under}s" if sli.latency else f"{sli.good} / {sli.total}")
        slos.add_row(key, f"{slo.objective}%", slo.window, text)
    console.print(slos)

    alerts = Table(title="Business alerts", title_justify="left")
    for col in ("alert", "severity", "threshold", "for", "notifies", "runbook"):
        alerts.add_column(col)
    for key, alert in c.alerts.items():
        receivers = list(c.routes.money_loss) if alert.money_loss else [getattr(c.routes, alert.severity)]
        threshold = "own expr" if alert.threshold is None else f"{alert.threshold:g}"  # a team's own PromQL
        alerts.add_row(c.alert_name(key), alert.severity, threshold, alert.for_,
                       ", ".join(receivers), c.runbook_url(key).rsplit("/", 1)[-1])
    console.print(alerts)

    people = Table(title="Providers, cost and roles", title_justify="left")
    people.add_column("what")
    people.add_column("detail")
    for key, p in c.providers.items():
        fee = c.cost.provider_fees.get(key)
        people.add_row(f"provider {key}", p.display_name + (f" — ${fee.fixed_usd:g} + {fee.bps:g} bps" if fee else ""))
    people.add_row("infrastructure", f"${c.cost.infrastructure_usd_per_hour:g}/hour")
    for key, role in c.roles.items():
        people.add_row(f"role {key}", f"{role.receiver}: {role.duty}")
    for name, receiver in c.receivers.items():
        people.add_row(f"receiver {name}", ", ".join(receiver.declared()) or "the local pager only")
    console.print(people)
