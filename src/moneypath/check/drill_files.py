"""Drill files checked against the catalog and the runbooks (the format is moneypath.formats.drill).

`load_drill(path, catalog, root)` returns a checked `Drill` or raises `DrillError`, one line per problem;
`check_drill_files(catalog, root)` is what `moneypath lint` adds for every file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from moneypath.canary.drill_file import load_canary_drill
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import HA_COMPONENTS, HA_REPLICAS, WATCHDOG_SEVERITY, Key
from moneypath.catalog.yaml_errors import FILE
from moneypath.check.promql import QueryContext, check_promql, check_queries, did_you_mean
from moneypath.check.runbooks import RUNBOOK_DIR, FrontMatter, split_page
from moneypath.formats.drill import (
    MONEY_CHECK_QUERIES,
    ROLES,
    Drill,
    DrillError,
    FaultSpec,
    canary_drill_files,
    drill_files,
    read_drill,
)
from moneypath.formats.drill_errors import located
from moneypath.formats.fault_specs import fault_specs
from moneypath.protocol.faults.switches import FaultError


def load_drill(path: Path, catalog: Catalog, root: Path = Path(".")) -> Drill:
    """Parse, validate and check a drill file against the catalog and the runbooks; DrillError otherwise."""
    drill = read_drill(path, root)
    problems = check_drill(drill, catalog, Path(root))
    if problems:
        raise DrillError(with_lines(drill.path, Path(path).read_text(encoding="utf-8"), problems))
    return drill


def with_lines(rel: str, text: str, problems: list[str]) -> list[str]:
    """`key.path: what` → `file:line: key.path: what`, the line of the key (or of its nearest ancestor) in the file."""
    from moneypath.catalog.load import key_lines

    lines = key_lines(text)
    out = []
    for problem in problems:
        key = problem.partition(": ")[0]
        loc = () if key == FILE else tuple(int(p) if p.isdigit() else p for p in key.split("."))
        out.append(f"{located(rel, lines, loc)}: {problem}")
    return out


def alert_names(catalog: Catalog) -> dict[str, dict]:
    """Every generated alert name → {severity (worst), money_loss}."""
    from moneypath.generate.rules import alert_rules

    out: dict[str, dict] = {}
    for group in alert_rules(catalog)["groups"]:
        for rule in group["rules"]:
            if rule["labels"]["severity"] == WATCHDOG_SEVERITY:
                continue  # the heartbeat fires always and pages nobody: no drill judges it
            entry = out.setdefault(rule["alert"], {"severity": "ticket", "money_loss": False, "labels": set()})
            if rule["labels"]["severity"] == "page":
                entry["severity"] = "page"
            entry["money_loss"] |= rule["labels"].get("money_loss") == "true"
            entry["labels"] |= set(rule["labels"])
    return out


def resolve_alert(name: str, catalog: Catalog, known: dict[str, dict]) -> str | None:
    """The generated alert name for `name`: either that name or a catalog key (prefix added)."""
    if name in known:
        return name
    full = f"{catalog.alert_prefix}{name}"
    return full if full in known else None


def receivers_for(alert: str, catalog: Catalog, known: dict[str, dict]) -> list[str]:
    """Who the catalog's routing pages for an alert (moneypath.generate.routing)."""
    info = known[alert]
    if info["money_loss"]:
        return list(dict.fromkeys(catalog.routes.money_loss))
    return [catalog.routes.page if info["severity"] == "page" else catalog.routes.ticket]


def check_fault(fault: FaultSpec, catalog: Catalog) -> list[str]:
    if fault.where == "hook":  # the team's own switch: its target, if named, is one of the catalog's providers
        if fault.target is not None and fault.target not in catalog.providers:
            return [f"fault.target: {fault.target!r} is not a catalog provider ({', '.join(catalog.providers)})"
                    f"{did_you_mean(fault.target, catalog.providers, SHORT)}"]
        return []
    specs = fault_specs(fault.where, catalog)
    if fault.name not in specs:
        return [f"fault.name: {fault.where} has no fault {fault.name!r} (known: {', '.join(specs)})"
                f"{did_you_mean(fault.name, specs, SHORT)}"]
    spec = specs[fault.name]
    problems = []
    if spec.target:
        if fault.target not in spec.targets:
            problems.append(f"fault.target: {fault.name} hits one {spec.target}: one of {', '.join(spec.targets)}"
                            f"{did_you_mean(str(fault.target), spec.targets, SHORT) if fault.target else ''}")
    elif fault.target is not None:
        problems.append(f"fault.target: {fault.name} takes no target")
    for key in fault.params:
        if key not in spec.params and key not in spec.optional:
            problems.append(f"fault.params.{key}: {fault.name} takes no such parameter "
                            f"(it takes {', '.join([*spec.params, *spec.optional]) or 'none'})")
    for key, validate in spec.params.items():
        if key not in fault.params:
            problems.append(f"fault.params.{key}: required by {fault.name}")
            continue
        try:
            validate(key, fault.params[key])
        except FaultError as e:
            problems.append(f"fault.params.{e}")
    for key, (validate, _) in spec.optional.items():
        try:
            if key in fault.params:
                validate(key, fault.params[key])
        except FaultError as e:
            problems.append(f"fault.params.{e}")
    return problems


SHORT = 0.6  # did_you_mean's cutoff for short names (providers, currencies, receivers): komojo → komoju


def _alert_hint(name: str, known, catalog: Catalog) -> str:
    """Did you mean, among the alerts' full names and the short ones a drill may use (without the prefix)?"""
    return did_you_mean(name, [*known, *(a.removeprefix(catalog.alert_prefix) for a in known)])


def check_drill(drill: Drill, catalog: Catalog, root: Path) -> list[str]:
    """Problems as ``key.path: what``; fills in the drill's runbook fields when the page is sound."""
    problems: list[str] = []
    known = alert_names(catalog)
    context = QueryContext(catalog)

    if drill.business_service is not None and drill.business_service not in catalog.business_services:
        problems.append(f"business_service: {drill.business_service!r} is not in the catalog's business_services "
                        f"({', '.join(catalog.business_services) or 'none'})"
                        f"{did_you_mean(drill.business_service, catalog.business_services)}")
    alert = resolve_alert(drill.runbook, catalog, known)
    if alert is None:
        problems.append(f"runbook: {drill.runbook!r} is not an alert the catalog generates "
                        f"(known: {', '.join(sorted(known))}){_alert_hint(drill.runbook, known, catalog)}")
    else:
        drill.runbook_alert = alert
        drill.runbook_page = f"runbooks/{alert.lower()}.md"
        page = root / drill.runbook_page
        try:
            meta = FrontMatter.model_validate(split_page(page.read_text(encoding="utf-8")).meta)
            drill.runbook_steps = {s.name: s.model_dump() for s in meta.diagnosis}
        except FileNotFoundError:
            problems.append(f"runbook: {drill.runbook_page} does not exist")
        except (ValueError, ValidationError):
            problems.append(f"runbook: {drill.runbook_page} has no valid front matter (see `moneypath lint`)")
    if drill.runbook_steps:
        for i, step in enumerate(drill.diagnosis.steps):
            found = drill.runbook_steps.get(step.step)
            if found is None:
                problems.append(f"diagnosis.steps.{i}.step: {step.step!r} is not a diagnosis step of "
                                f"{drill.runbook_page} (its steps: {'; '.join(drill.runbook_steps)})")
                continue
            for j, e in enumerate(step.expect):
                if found.get("sql") and e.labels is None and e.numeric and e.column is None:
                    problems.append(f"diagnosis.steps.{i}.expect.{j}: an SQL step's min/max/above/below need a column")
                if found.get("promql") and e.column is not None:
                    problems.append(f"diagnosis.steps.{i}.expect.{j}.column: only for SQL steps")

    for key in ("providers", "currencies") if drill.load is not None else ():
        declared = catalog.providers if key == "providers" else catalog.currencies
        for name in getattr(drill.load, key):
            if name not in declared:
                problems.append(f"load.{key}.{name}: not in the catalog's {key} ({', '.join(declared)})"
                                f"{did_you_mean(name, declared, SHORT)}")
    methods = catalog.signals[Key.AUTHORIZATIONS_TOTAL].labels.get("method") \
        if Key.AUTHORIZATIONS_TOTAL in catalog.signals else None
    for name in drill.load.methods if drill.load is not None and methods else ():
        if name not in methods:
            problems.append(f"load.methods.{name}: not a method the catalog declares ({', '.join(methods)})"
                            f"{did_you_mean(name, methods, SHORT)}")

    if drill.load is not None and drill.load.amounts is None and (sent := drill.load.amount_placeholders()):
        problems.append(f"load.amounts: required: the request template sends {{{sent[0]}}}; give amounts: {{min, max}} "
                        "in minor units, or leave the amount out of the template when the service prices the payment")
    if drill.fault is not None:
        problems += check_fault(drill.fault, catalog)
    problems += check_replica_down(drill)

    named = set()
    for i, exp in enumerate(drill.alerts.expected):
        full = resolve_alert(exp.alert, catalog, known)
        if full is None:
            problems.append(f"alerts.expected.{i}.alert: {exp.alert!r} is not an alert the catalog generates"
                            f"{_alert_hint(exp.alert, known, catalog)}")
            continue
        exp.alert = full
        named.add(full)
        for label, value in exp.labels.items():
            if label not in known[full]["labels"] and label not in context.labels:
                problems.append(f"alerts.expected.{i}.labels.{label}: {full} carries no such label")
            elif label == "provider" and value not in catalog.providers:  # it would wait for a page never sent
                problems.append(f"alerts.expected.{i}.labels.provider: {value!r} is not a catalog provider "
                                f"({', '.join(catalog.providers)}){did_you_mean(value, catalog.providers, SHORT)}")
        for receiver in exp.receivers or []:
            if receiver not in catalog.receivers:
                problems.append(f"alerts.expected.{i}.receivers: {receiver!r} is not a catalog receiver"
                                f"{did_you_mean(receiver, catalog.receivers, SHORT)}")
    if drill.fault is None and drill.load is not None and drill.alerts.expected:
        problems.append("alerts.expected: a drill without a fault expects no alert")
    if drill.fault is not None and not drill.alerts.expected and "*" not in drill.alerts.must_not_page:
        problems.append("alerts.expected: a drill with a fault expects at least one alert (the page it rehearses), "
                        "or says that nothing may page (must_not_page: [\"*\"], a fault the service absorbs); "
                        "without either nothing judges the fault")
    for key in ("allowed", "must_not_page"):
        names = getattr(drill.alerts, key)
        for i, name in enumerate(names):
            if key == "must_not_page" and name == "*":
                continue
            full = resolve_alert(name, catalog, known)
            if full is None:
                problems.append(f"alerts.{key}.{i}: {name!r} is not an alert the catalog generates"
                                f"{_alert_hint(name, known, catalog)}")
            elif full in named:
                problems.append(f"alerts.{key}.{i}: {full} is listed twice (expected, allowed, must_not_page)")
            else:
                names[i] = full
                named.add(full)

    if drill.fault is None and (drill.mitigation.actions or drill.recovery is not None):
        problems.append("mitigation: a drill without a fault has nothing to mitigate or recover")

    for key, expr in drill_queries(drill):
        problems += [f"{key}: {what}" for what in check_promql(expr, context)]

    problems += check_if_not_measured(drill, catalog)

    for name in getattr(drill, "money_expect", {}):
        query = MONEY_CHECK_QUERIES.get(name)  # duplicates: the database's breaks, or the service's detector
        if query is not None and getattr(catalog.money_checks, query) is None:
            problems.append(f"money_expect.{name}: the catalog's money_checks has no `{query}` query, so this check "
                            "is never measured and its expectation never judged")

    for role in drill.tabletop.roles:
        if role not in ROLES and role not in catalog.roles:
            problems.append(f"tabletop.roles.{role}: not a drill role ({', '.join(ROLES)}) nor a catalog role")
    return problems


def never_judged(drill: Drill, catalog: Catalog) -> dict[str, str]:
    """The objectives and money checks this drill never judges on this catalog, each with why: an
    `if_not_measured` on one of them would skip nothing (and reads as if it were measured elsewhere)."""
    out: dict[str, str] = {}
    if catalog.enabled("ledger"):
        out["money_kept"] = "the catalog has the ledger feature: the money objective is ledger_balanced"
    else:
        out["ledger_balanced"] = "the catalog has no ledger feature: the money objective is money_kept"
    if not drill.replica_down:
        for name in ("replica_down", "paged_once", "watchdog", "restored"):
            out[name] = "the drill kills no monitoring replica (replica_down)"
    if drill.load is None or drill.load.peak is None or drill.load.peak.headroom is None:
        out["headroom"] = "the drill probes no headroom (load.peak.headroom)"
    if drill.fault is None:
        for name in ("detected", "mitigated", "recovered", "halted"):
            out[name] = "the drill has no fault"
    elif not drill.alerts.expected:
        out["detected"] = "the drill expects no alert"
    if drill.load is None:
        for name in ("stored", "captured_once", "refunds_within_captures", "duplicates"):
            out[name] = "the drill sends no load (tabletop only)"
    return out


def check_if_not_measured(drill: Drill, catalog: Catalog) -> list[str]:
    """`if_not_measured:` names only what this drill judges on this catalog."""
    never = never_judged(drill, catalog)
    return [f"if_not_measured.{name}: {never[name]}, so it is never measured and this skips nothing"
            for name in drill.if_not_measured if name in never]


def check_replica_down(drill: Drill) -> list[str]:
    """A kill names a monitoring part of the pair and a replica, happens while the fault is on, and leaves one
    replica of each pair alive (without one nothing pages: that is no HA drill)."""
    problems: list[str] = []
    killed: dict[str, int] = {}
    for i, kill in enumerate(drill.replica_down):
        key = f"replica_down.{i}"
        if kill.component not in HA_COMPONENTS:
            problems.append(f"{key}.component: {kill.component!r} does not run in pairs (one of "
                            f"{', '.join(HA_COMPONENTS)}){did_you_mean(kill.component, HA_COMPONENTS, SHORT)}")
        elif kill.component in killed:
            problems.append(f"{key}.component: {kill.component} is already killed by replica_down.{killed[kill.component]}"
                            ": with both replicas down nothing pages (kill one of each pair)")
        else:
            killed[kill.component] = i
        if kill.replica not in HA_REPLICAS:
            problems.append(f"{key}.replica: {kill.replica!r} is not a replica of the pair (one of "
                            f"{', '.join(HA_REPLICAS)}){_replica_hint(kill.replica)}")
        if drill.fault is None:
            problems.append(f"{key}: a replica dies mid-incident: the drill needs a fault")
        elif kill.after >= drill.fault.duration:
            problems.append(f"{key}.after: {kill.after:g} s is not before the fault ends ({drill.fault.duration:g} s)")
    return problems


def _replica_hint(given: str) -> str:
    """'; did you mean b?' for B, replica-b, prometheus-b or 2 (the second of the pair)."""
    word = given.strip().lower()
    if word.isdigit() and 1 <= int(word) <= len(HA_REPLICAS):
        return f"; did you mean {HA_REPLICAS[int(word) - 1]}? (the replicas are named, first {HA_REPLICAS[0]})"
    last = word.rsplit("-", 1)[-1]
    return f"; did you mean {last}?" if last in HA_REPLICAS else ""


def drill_queries(drill: Drill) -> list[tuple[str, str]]:
    """(key path, PromQL) of every query the drill file itself declares."""
    out = [(f"steady_state.{i}.promql", c.promql) for i, c in enumerate(drill.steady_state)]
    if drill.fault is not None:
        out += [(f"fault.halt_when.{i}.promql", c.promql) for i, c in enumerate(drill.fault.halt_when)]
    if drill.recovery is not None:
        out += [(f"recovery.checks.{i}.promql", c.promql) for i, c in enumerate(drill.recovery.checks)]
    out += [(f"plots.{i}.promql", p.promql) for i, p in enumerate(drill.plots)]
    return out


def check_drill_files(catalog: Catalog, root: Path, promtool: bool = True) -> list[str]:
    """Every problem of every drill file under `root`, one line each (for `moneypath lint`)."""
    problems: list[str] = []
    queries: list[tuple[str, str, str]] = []
    for path in drill_files(root):
        try:
            drill = load_drill(path, catalog, root)
        except DrillError as e:
            problems += e.problems
            continue
        queries += [(drill.path, key, expr) for key, expr in drill_queries(drill)]
    for path in canary_drill_files(root):  # kind: canary (moneypath.canary.drill_file)
        try:
            load_canary_drill(path, catalog, root)
        except DrillError as e:
            problems += e.problems
    if promtool:
        problems += check_queries(queries, RUNBOOK_DIR)
    return problems
