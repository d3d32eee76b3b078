"""`moneypath catalog show`: the catalog as terminal tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from moneypath.catalog import Catalog, summary


def print_catalog(c: Catalog, console: Console | None = None) -> None:
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
        alerts.add_row(c.alert_name(key), alert.severity, f"{alert.threshold:g}", alert.for_,
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
