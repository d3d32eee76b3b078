"""A game day's halt conditions: `moneypath drill run --halt-burn SLO=FACTOR --halt-alert ALERT` (what the CronJob
of `moneypath export kube` runs for the run config's `gameday:` section) adds them to every drill's
fault.halt_when, so the fault is cleared as soon as one holds, as the drill's own halt conditions do
(moneypath.drills.fault_switch).

- an SLO burning its error budget faster than FACTOR over the shortest window of the catalog's fastest paging
  burn-rate pair (its recorded error ratio over its recorded budget);
- a catalog alert crossing its line: pending or firing (its threshold crossed, before its `for:` has passed).

A drill that expects or allows that alert is not halted by it: paging is what it rehearses.
"""

from __future__ import annotations

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import BURN_RATE_PAIRS, SLO_BUDGET_RECORD, sli_error_record
from moneypath.catalog.matchers import did_you_mean
from moneypath.check.drill_files import alert_names, resolve_alert
from moneypath.formats.drill import CheckSpec, Drill

# the short window of the fastest paging pair: the burn a game day watches
BURN_WINDOW = next(short for severity, _long, short, _f in BURN_RATE_PAIRS if severity == "page")


class HaltError(ValueError):
    """A halt condition naming what the catalog does not have; one line."""


def parse_burns(values: list[str]) -> dict[str, float]:
    """--halt-burn SLO=FACTOR values → {slo: factor}."""
    out: dict[str, float] = {}
    for value in values:
        slo, sep, factor = value.partition("=")
        try:
            out[slo] = float(factor) if sep and slo else float("nan")
        except ValueError:
            out[slo] = float("nan")
        if not out[slo] > 0:
            raise HaltError(f"--halt-burn: {value!r} is not SLO=FACTOR with a positive factor (e.g. "
                            "authorization-availability=14.4)")
    return out


def burn_check(catalog: Catalog, slo: str, factor: float) -> CheckSpec:
    if slo not in catalog.slos:
        raise HaltError(f"--halt-burn: {slo!r} is not an SLO of the catalog{did_you_mean(slo, list(catalog.slos))}")
    promql = (f'max({sli_error_record(BURN_WINDOW)}{{slo="{slo}"}}) / max({SLO_BUDGET_RECORD}{{slo="{slo}"}})')
    return CheckSpec(name=f"game day: {slo} burning faster than {factor:g}x ({BURN_WINDOW})", promql=promql,
                     expect={"above": factor})


def alert_check(alert: str) -> CheckSpec:
    return CheckSpec(name=f"game day: {alert} crossed its line", promql=f'ALERTS{{alertname="{alert}"}}',
                     expect={"nonempty": True})


def halt_checks(catalog: Catalog, burns: dict[str, float], alerts: list[str]) -> list[tuple[CheckSpec, str | None]]:
    """(check, the alert it watches or None) for each halt condition; HaltError on a name the catalog lacks."""
    out: list[tuple[CheckSpec, str | None]] = [(burn_check(catalog, slo, f), None) for slo, f in burns.items()]
    known = alert_names(catalog)
    for name in alerts:
        full = resolve_alert(name, catalog, known)
        if full is None:
            raise HaltError(f"--halt-alert: {name!r} is not an alert the catalog generates"
                            f"{did_you_mean(name, list(known))}")
        out.append((alert_check(full), full))
    return out


def add_halts(drills: list[Drill], catalog: Catalog, burns: dict[str, float], alerts: list[str]) -> list[str]:
    """Add the halt conditions to every drill with a fault; one line per drill about what it got (a drill without a
    fault has nothing to halt)."""
    checks = halt_checks(catalog, burns, alerts)
    if not checks:
        return []
    known = alert_names(catalog)
    lines = []
    for d in drills:
        if d.fault is None:
            lines.append(f"{d.path}: no fault, nothing for the game day's halt conditions to stop")
            continue
        own = {resolve_alert(a.alert, catalog, known) for a in d.alerts.expected}
        own |= {resolve_alert(a, catalog, known) for a in d.alerts.allowed}
        added = [c for c, alert in checks if alert is None or alert not in own]
        d.fault.halt_when = [*d.fault.halt_when, *added]
        lines.append(f"{d.path}: halts on {len(added)} game-day condition(s)"
                     + (f" (not on {', '.join(sorted(a for _, a in checks if a in own))}: it expects it)"
                        if len(added) < len(checks) else ""))
    return lines
