"""`moneypath map`: the money-path map of one or more catalogs, as money-path.svg and money-path.html; with
--prometheus, coloured from live data and judged (exit 0 all green, 1 red or amber, 3 something not measured)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath._common.verdict import Check, Outcome, Verdict, dumps
from moneypath.cli import where

SVG_NAME, HTML_NAME = "money-path.svg", "money-path.html"
DESCRIPTION = (
    "Draw the money path: where money moves between the customer's funding source, your services, providers "
    "and acquirers, the ledger, queues, settlement files, payout rails and the bank, as the catalog's "
    "`money_path:` section declares it. Several catalogs (one per service) are joined into one map: an edge "
    "naming `service/node` crosses into that service's frame. Writes money-path.svg and money-path.html into "
    "--out: self-contained (nothing fetched to view them), the page fits a 1920x1080 screen and prints on one "
    "A4 landscape page. Marks: a shape per node kind, a blue outline and \"PCI ...\" on nodes that store, "
    "process or transmit card data, KYC/region/licence notes, dashed nodes for another service's node whose "
    "catalog was not given; a legend explains each. Colours: without --prometheus neutral (not live: no data "
    "is never green), exit 0. With --prometheus URL each edge and node is read from its signals: red while a "
    "paging alert on them fires, amber while a ticket alert fires or a signal is beyond its objective, green "
    "only when traffic was seen in the last minute, its target is up and every objective the catalog declares "
    "on its signals (SLOs, alert thresholds) is measured and within; idle (no traffic), no objective (nothing "
    "bounds its signals) and grey when not measured (no data, its target down or not scraped for two scrape "
    "intervals, counters that go backwards) are never green. Firing page alerts that no edge shows, and a "
    "Prometheus that does not answer, are said on the page. One line per element not green; exit 1 if any is "
    "red or amber or a page alert fires on no edge, else 3 if any is not green, else 0. --json prints the "
    "states, whys, figures and unplaced alerts as JSON instead. A catalog that cannot be read, an invalid "
    "section or a reference to an unknown service or node: one line per problem (file:line: key), exit 2, "
    "nothing written; so is a --prometheus that is not an http(s) URL, and a missing Graphviz `dot` (the Debian "
    "package graphviz).")
COUNTER_WINDOW = "5m"  # how far back counters that go backwards make a target's rates not data (as `status`)


def add_commands(commands, catalog_arg, state_arg) -> None:
    cmd = commands.add_parser("map", help="draw the money path (SVG and HTML), live with --prometheus",
                              description=DESCRIPTION)
    catalog_arg(cmd)
    where.prometheus_arg(cmd)  # --prometheus: colour the map from live data (never from the run config silently)
    cmd.add_argument("catalogs", nargs="*", metavar="CATALOG",
                     help="catalog files to draw, one per service, joined into one map (default: --catalog, else "
                          "the project's moneypath.yaml)")
    cmd.add_argument("--out", metavar="DIR", default=".",
                     help=f"directory to write {SVG_NAME} and {HTML_NAME} into (default: .)")
    cmd.add_argument("--title", metavar="TEXT", default=None,
                     help="the map's title (default: \"Money path: \" and the services joined)")
    cmd.add_argument("--json", action="store_true",
                     help="with --prometheus: print the map's health as JSON (each node's and edge's state, why, "
                          "figures and alerts; the firing page alerts on no edge; whether Prometheus answered) "
                          "instead of the lines; the files are written all the same")
    cmd.set_defaults(run=_map)


def _map(args) -> int:
    from moneypath.catalog import CatalogError, load_catalog
    from moneypath.map.graph import build_map
    from moneypath.map.layout import LayoutError
    from moneypath.map.page import page_of
    from moneypath.map.render import default_title, render_svg

    paths = args.catalogs or [args.catalog]
    problems, catalogs = [], []
    for path in paths:
        try:
            catalogs.append(load_catalog(path))
        except CatalogError as exc:
            problems += exc.problems
    try:
        graph = build_map(catalogs) if not problems else None
    except CatalogError as exc:
        problems += exc.problems
    if problems or graph is None:
        for line in problems:
            print(line, file=sys.stderr)
        return ExitCode.USAGE
    if args.json and not args.prometheus:
        print("moneypath map: --json: give --prometheus URL (the JSON is the live health)", file=sys.stderr)
        return ExitCode.USAGE
    health = None
    if args.prometheus:
        health = _read_health(graph, args.prometheus)
        if isinstance(health, str):
            print(health, file=sys.stderr)
            return ExitCode.USAGE
    title = args.title or default_title(graph)
    try:
        svg = render_svg(graph, health=health, title=title)
    except LayoutError as exc:
        print(f"moneypath map: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    out = Path(args.out)
    _write(out, svg, page_of(svg, graph, health, title))
    print(f"wrote {out / SVG_NAME} and {out / HTML_NAME}: {len(graph.nodes)} nodes, {len(graph.edges)} edges "
          f"({', '.join(graph.services)})", file=sys.stderr if args.json else sys.stdout)
    if health is None:
        return 0
    verdict = health_verdict(graph, health)
    if args.json:
        print(dumps(health_json(graph, health, verdict)))
    else:
        _print_lines(verdict, health)
    return verdict.exit_code


def _print_lines(verdict: Verdict, health) -> None:
    """One line per red or amber element and alert on no edge, the counts, then one per idle or unjudged element,
    and the not-measured reasons each once (a Prometheus that does not answer greys every element)."""
    from moneypath.map.marks import ORDER, State

    if health.answered is False:
        print(f"Prometheus did not answer: {health.problem.removeprefix('not measured: ')}")
    for check in verdict.checks:
        if check.outcome is Outcome.FAIL:
            print(f"{check.figures['state']}: {check.name}: {check.why}")
    counts = {s: sum(1 for c in verdict.checks if c.figures.get("state") == s.value) for s in ORDER}
    print(f"{counts[State.RED] + counts[State.AMBER]} red or amber, {counts[State.GREEN]} green, "
          f"{counts[State.IDLE]} idle, {counts[State.NO_OBJECTIVE]} no objective, {counts[State.GREY]} not measured")
    for check in verdict.checks:
        state = check.figures.get("state")
        if state in (State.IDLE.value, State.NO_OBJECTIVE.value) and check.name.startswith("edge "):
            why = check.why.removeprefix("not measured: ").removeprefix(f"{state}: ")
            print(f"{state}: {check.name}: {why}")
    by_why: dict[str, list[str]] = {}
    for check in verdict.of(Outcome.NOT_MEASURED):
        if check.figures.get("state") == State.GREY.value:
            by_why.setdefault(check.why, []).append(check.name)
    for why, names in by_why.items():
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        print(f"not measured: {why.removeprefix('not measured: ')}: {', '.join(names[:3])}{more}")



def _read_health(graph, url: str):
    """The map's health from Prometheus, or the one line saying why it could not be read."""
    from moneypath._common.prometheus import PrometheusError

    try:
        from moneypath.map.live_health import read_health
    except ModuleNotFoundError as exc:
        if exc.name != "moneypath.map.live_health":
            raise
        return "moneypath map: --prometheus: this build has no live map (moneypath.map.live_health)"
    try:
        return read_health(graph, url, not_data=_not_data(graph))
    except PrometheusError as exc:  # read_health says so in the health it returns; said the same way here
        from moneypath._common.verdict import not_measured
        from moneypath.map.marks import MapHealth, Mark, State

        mark = Mark(State.GREY, why=not_measured(str(exc)))
        return MapHealth(nodes=dict.fromkeys(graph.nodes, mark), edges={e.id: mark for e in graph.edges},
                         at=time.time(), source=url.rstrip("/"), answered=False, problem=str(exc))


def _not_data(graph):
    """The targets whose counters go backwards over COUNTER_WINDOW, among the catalogs' counters."""
    from moneypath.check.counter_resets import counter_names, find

    names = list(dict.fromkeys(n for c in graph.catalogs.values() for n in counter_names(c)))
    return lambda query: find(query, names, COUNTER_WINDOW)


def _write(out: Path, svg: str, page: str) -> None:
    from moneypath._common.atomic import write_text

    out.mkdir(parents=True, exist_ok=True)
    write_text(out / SVG_NAME, svg)
    write_text(out / HTML_NAME, page)


def _element(graph, kind: str, element_id: str) -> str:
    if kind == "edge":
        edge = graph.edge(element_id)
        return f"edge {element_id} {edge.source} → {edge.target} ({edge.movement})"
    return f"node {element_id}"


def health_verdict(graph, health) -> Verdict:
    """One check per edge (an edge with no mark is not measured) and per node the health marks, each its state's
    result (moneypath.map.marks.State.outcome: red and amber fail, green passes, the rest is not measured), and a
    failed check per firing page alert that no edge shows."""
    from moneypath.map.marks import State

    checks = [Check(name=f"alert {name}", outcome=Outcome.FAIL, why="a page alert fires, on no edge of the map",
                    figures={"state": "firing, on no edge"}) for name in health.unplaced]
    marks = [("edge", e.id, health.edges.get(e.id)) for e in graph.edges]
    marks += [("node", node_id, mark) for node_id, mark in health.nodes.items() if node_id in graph.nodes]
    for kind, element_id, mark in marks:
        state = mark.state if mark is not None else State.GREY
        why = (mark.why if mark is not None else "") or ("no mark read" if mark is None else state.value)
        if mark is not None and mark.figures:
            why += f" ({', '.join(mark.figures)})"
        checks.append(Check(name=_element(graph, kind, element_id), outcome=state.outcome, why=why,
                            figures={"state": state.value}))
    return Verdict(tuple(checks))


def health_json(graph, health, verdict: Verdict) -> dict:
    """`--json`: the health as moneypath.map.live_health.health_to_dict writes it, each edge with its ends and
    movement and each mark with its result, the verdict and its exit code."""
    from moneypath.map.live_health import health_to_dict
    from moneypath.map.marks import State

    data = health_to_dict(health)
    for edge in graph.edges:
        if edge.id in data["edges"]:
            data["edges"][edge.id] = {"from": edge.source, "to": edge.target, "movement": edge.movement,
                                      **data["edges"][edge.id]}
    for marks in (data["nodes"], data["edges"]):
        for mark in marks.values():
            mark["outcome"] = State(mark["state"]).outcome.value
    return {"verdict": verdict.outcome.value, "exit_code": verdict.exit_code, **data}
