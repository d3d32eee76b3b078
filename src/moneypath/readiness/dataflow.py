"""The evidence pack's data-flow diagram (PCI DSS 4.0 requirement 1.2.4): the money-path map of the period, drawn
from the catalog the period's drill records name (each record's `catalog_sha256`, its copy checked against it:
moneypath.readiness.catalogs), with the nodes that store, process or transmit card data marked.

One diagram, the latest: the catalog the newest record of the period names is the one the team runs now, which
is what 1.2.4 asks to be kept current. Other catalogs the period's records name are listed with their records,
and their copies are in the pack, so what changed within the period can be read. Never another catalog in the
place of the one named: the diagram is "not measured" (and says why) when the newest record's catalog is not
recorded, its copy is missing or changed, it does not load, or it declares no money path; a diagram of an older
record's catalog is then drawn only with that said beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from moneypath._common.verdict import NOT_MEASURED, PASS, Check, not_measured, register
from moneypath.catalog import CatalogError, parse_catalog
from moneypath.map.graph import MoneyPathMap, build_map
from moneypath.map.layout import LayoutError
from moneypath.readiness.catalogs import FOLDER, Recorded, recorded

TITLE = "Data-flow diagram (PCI DSS 1.2.4)"
PCI_ROLES = ("store", "process", "transmit")


@dataclass
class DataFlow:
    check: Check  # pass: drawn from the newest record's catalog; not measured: why not
    records: dict[int, Recorded] = field(default_factory=dict)  # seq → its catalog as the history holds it
    drawn: Recorded | None = None  # the catalog drawn
    drawn_seqs: list[int] = field(default_factory=list)  # the records that name it
    others: dict[str, list[int]] = field(default_factory=dict)  # another catalog named in the period → its records
    graph: MoneyPathMap | None = None
    svg: str | None = None
    problem: str | None = None  # why the catalog drawn could not be drawn (does not load, no money path)

    def pci_rows(self) -> list[dict]:
        """The nodes in PCI scope: what each does with card data (store, process, transmit)."""
        if self.graph is None:
            return []
        return [{"node": n.id, "label": n.label, "kind": n.kind, "provider": n.provider,
                 **{role: role in n.pci for role in PCI_ROLES}}
                for n in self.graph.nodes.values() if n.pci]

    def summary(self) -> dict:
        """dataflow.json: the result, the catalog drawn, every record's catalog and the PCI scope."""
        return {"result": self.check.outcome.value, "why": self.check.why,
                "drawn": {"catalog_sha256": self.drawn.sha256, "file": f"{FOLDER}/{self.drawn.sha256}.yaml",
                          "records": self.drawn_seqs} if self.drawn else None,
                "other_catalogs": [{"catalog_sha256": sha, "file": f"{FOLDER}/{sha}.yaml", "records": seqs}
                                   for sha, seqs in self.others.items()],
                "records": {str(seq): {"catalog_sha256": r.sha256, "result": r.outcome.value, "why": r.why}
                            for seq, r in self.records.items()},
                "pci_scope": self.pci_rows()}


def dataflow_status(period: list[tuple[int, Recorded]], drawn_seq: int | None = None,
                    problem: str | None = None) -> Check:
    """Pass when the diagram is drawn from the catalog the newest record of the period names (its copy verified,
    loading, with a money path); else not measured, and why. Never a fail: a diagram not drawn is no evidence."""
    if not period:
        return Check(name="data-flow diagram", outcome=NOT_MEASURED,
                     why=not_measured("no drill record in the period names a catalog"))
    newest_seq, newest = period[-1]
    if newest.outcome is not PASS:
        drawn = f"; the diagram drawn is record {drawn_seq}'s catalog, which may not be current" if drawn_seq else ""
        return Check(name="data-flow diagram", outcome=NOT_MEASURED,
                     why=not_measured(f"the newest record of the period: {newest.why}{drawn}"))
    if problem is not None:
        return Check(name="data-flow diagram", outcome=NOT_MEASURED, why=not_measured(problem))
    return Check(name="data-flow diagram", outcome=PASS,
                 why=f"drawn from catalog {newest.sha256} named by record {newest_seq}, the newest of the period")


register("readiness.evidence.dataflow", dataflow_status)


def build(records: list[dict], history_dir: Path) -> DataFlow:
    """The period's diagram from its records (in chain order), drawn by moneypath.map.render."""
    period = [(int(r["seq"]), recorded(r, history_dir)) for r in records]
    flow = DataFlow(check=dataflow_status(period), records=dict(period))
    verified = [(seq, r) for seq, r in period if r.outcome is PASS]
    if not verified:
        return flow
    drawn_seq, drawn = verified[-1]
    flow.drawn = drawn
    flow.drawn_seqs = [seq for seq, r in verified if r.sha256 == drawn.sha256]
    for seq, r in verified:
        if r.sha256 != drawn.sha256:
            flow.others.setdefault(str(r.sha256), []).append(seq)
    try:
        catalog = parse_catalog(str(drawn.text), f"{FOLDER}/{drawn.sha256}.yaml")
        if catalog.money_path is None:
            flow.problem = f"catalog {drawn.sha256[:12]}… declares no money path (no money_path: section)"
        else:
            flow.graph = build_map([catalog])
    except CatalogError as exc:
        flow.problem = f"catalog {drawn.sha256[:12]}… does not load: {str(exc).splitlines()[0]}"
    if flow.graph is not None:
        from moneypath.map.render import render_svg  # the layout engine: loaded when a diagram is drawn

        try:
            flow.svg = render_svg(flow.graph, None, highlight=(),
                              title=f"{catalog.service}: the money path, catalog {drawn.sha256[:12]}…")
        except LayoutError as exc:  # no Graphviz here: the diagram is not measured, and the page says why
            flow.problem = f"the diagram could not be drawn: {exc}"
    flow.check = dataflow_status(period, drawn_seq, flow.problem)
    return flow
