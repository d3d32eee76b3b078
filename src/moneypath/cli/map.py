"""`moneypath map`: the money-path map of one or more catalogs, as money-path.svg and money-path.html; with
--prometheus, coloured from live data and judged (exit 0 all green, 1 red or amber, 3 something not measured)."""

from __future__ import annotations

import sys
from pathlib import Path

from moneypath._common.verdict import EXIT_USAGE, Check, Outcome, Verdict
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
    "paging alert on them fires, amber while a ticket alert fires or an SLI is beyond its objective, green when "
    "measured and within, grey when not measured; one line per red or amber element; exit 1 if any is red or "
    "amber, else 3 if any is grey, else 0. A catalog that cannot be read, an invalid section or a reference to "
    "an unknown service or node: one line per problem (file:line: key), exit 2, nothing written; so is a "
    "missing Graphviz `dot` (the Debian package graphviz).")


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
        return EXIT_USAGE
    health = None
    if args.prometheus:
        health = _read_health(graph, args.prometheus)
        if isinstance(health, str):
            print(health, file=sys.stderr)
            return EXIT_USAGE
    title = args.title or default_title(graph)
    try:
        svg = render_svg(graph, health=health, title=title)
    except LayoutError as exc:
        print(f"moneypath map: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out)
    _write(out, svg, page_of(svg, graph, health, title))
    print(f"wrote {out / SVG_NAME} and {out / HTML_NAME}: {len(graph.nodes)} nodes, {len(graph.edges)} edges "
          f"({', '.join(graph.services)})")
    if health is None:
        return 0
    verdict = health_verdict(graph, health)
    for check in verdict.checks:
        if check.outcome is Outcome.FAIL:
            print(f"{check.figures['state']}: {check.name}: {check.why}")
    grey = verdict.of(Outcome.NOT_MEASURED)
    print(f"{len(verdict.of(Outcome.FAIL))} red or amber, {len(verdict.of(Outcome.PASS))} green, {len(grey)} not "
          "measured")
    by_why: dict[str, list[str]] = {}
    for check in grey:
        by_why.setdefault(check.why, []).append(check.name)
    for why, names in by_why.items():  # why, once: a Prometheus that does not answer greys every element
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        print(f"not measured: {why.removeprefix('not measured: ')}: {', '.join(names[:3])}{more}")
    return verdict.exit_code


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
        return read_health(graph, url)
    except PrometheusError as exc:
        return f"moneypath map: --prometheus: {exc}"


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
    """One check per edge (an edge with no mark is not measured) and per node the health marks: red or amber
    fail, green passes, grey is not measured."""
    from moneypath.map.marks import State

    outcome = {State.RED: Outcome.FAIL, State.AMBER: Outcome.FAIL, State.GREEN: Outcome.PASS,
               State.GREY: Outcome.NOT_MEASURED}
    checks = []
    marks = [("edge", e.id, health.edges.get(e.id)) for e in graph.edges]
    marks += [("node", node_id, mark) for node_id, mark in health.nodes.items() if node_id in graph.nodes]
    for kind, element_id, mark in marks:
        state = mark.state if mark is not None else State.GREY
        why = (mark.why if mark is not None else "") or ("no mark read" if mark is None else state.value)
        if mark is not None and mark.figures:
            why += f" ({', '.join(mark.figures)})"
        checks.append(Check(name=_element(graph, kind, element_id), outcome=outcome[state], why=why,
                            figures={"state": state.value}))
    return Verdict(tuple(checks))
