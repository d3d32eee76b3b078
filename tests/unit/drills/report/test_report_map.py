"""The drill report draws the money-path map: the edges the fault hit, the alerts that paged on the edges they
read (red for a page), every other edge grey; inline in HTML, map.svg beside markdown; one line without a map."""

from __future__ import annotations

import re

from moneypath.catalog import load_catalog
from moneypath.drills.report.rendering import render
from moneypath.map.marks import State
from tests.conftest import CATALOG_PATH
from tests.support import map_renderer
from tests.support.drill_journal import outage_journal, passing_journal


def _edge_groups(page: str) -> dict[str, str]:
    """data-edge id → the opening tag of its group in the inline SVG."""
    return {m[1]: m[0] for m in re.finditer(r'<g\b[^>]*\bdata-edge="([^"]+)"[^>]*>', page)}


def test_the_report_draws_the_map_with_the_hit_edges_and_the_pages(tmp_path):
    catalog = load_catalog(CATALOG_PATH)
    out = tmp_path / "r"
    md = render(outage_journal(), out, catalog).read_text()
    page = (out / "index.html").read_text()
    svg = (out / "map.svg").read_text()
    # HTML: the SVG inline, the same drawing as the file beside the report
    assert page.count("<svg") == 1 and svg.strip() in page
    edges = _edge_groups(page)
    assert len(edges) == len(catalog.money_path.edges)
    from moneypath.map.graph import build_map

    graph = build_map([catalog])
    globex = {e.id for e in graph.edges_touching_provider("globex")}
    assert globex and all(map_renderer.highlighted(edges[e]) for e in globex)
    acme = {e.id for e in graph.edges_touching_provider("acme")}
    assert not any(map_renderer.highlighted(edges[e]) for e in acme)
    # markdown: the section, a link to map.svg and the table of hit and paged edges
    section = md.split("## Money-path map")[1].split("\n## ")[0]
    assert "[map.svg](<map.svg>)" in section and "not a live read" in section
    intake = "| Customer's card or account → payments API: authorize |"
    row = next(line for line in section.splitlines() if line.startswith(intake))
    assert "red" in row and "MoneyPathAuthorizationAvailabilityBudgetBurn" in row
    row = next(line for line in section.splitlines() if line.startswith("| payments API → globex: authorize |"))
    assert "provider globex" in row and "MoneyPathProviderPartialOutage" in row and "red" in row
    assert "payments API → acme" not in section  # neither hit nor read by a page: grey, not listed
    assert md.index("## Alerts: expected vs actual") < md.index("## Money-path map")


def test_the_marks_red_on_pages_grey_elsewhere_never_green(tmp_path):
    from moneypath.drills.report.reading import JournalReading
    from moneypath.drills.report.report_map import map_section

    catalog = load_catalog(CATALOG_PATH)
    drawn = map_section(JournalReading(outage_journal(), catalog), catalog)
    states = {m.state for m in drawn.health.edges.values()}
    assert State.GREEN not in states and State.RED in states and State.GREY in states
    assert drawn.health.source.startswith("not live: as at the drill's end")
    red = {i: m for i, m in drawn.health.edges.items() if m.state is State.RED}
    assert all(m.alerts for m in red.values())
    assert "MoneyPathLedgerWriteFailures" not in {a for m in drawn.health.edges.values() for a in m.alerts}
    assert all("drill's end" in m.why for m in drawn.health.edges.values() if m.state is State.GREY)
    # a fault never injected hits nothing; the pages still mark what they read
    j = outage_journal()
    j["fault"]["injected_at"] = None
    assert map_section(JournalReading(j, catalog), catalog).hits == {}


def without_money_path(tmp_path):
    """The reference catalog with its money_path: section cut off (it is the file's last section)."""
    text = CATALOG_PATH.read_text()
    path = tmp_path / "moneypath.yaml"
    path.write_text(text[:text.index("\nmoney_path:")] + "\n")
    return load_catalog(path)


def test_a_catalog_without_a_money_path_says_so_in_one_line(tmp_path):
    catalog = without_money_path(tmp_path)
    assert catalog.money_path is None
    out = tmp_path / "r"
    md = render(passing_journal(), out, catalog).read_text()
    section = md.split("## Money-path map")[1].split("\n## ")[0].strip()
    assert section == f"_The money-path map is not declared in {catalog.path} (no money_path: section)._"
    assert not (out / "map.svg").exists() and "<svg" not in (out / "index.html").read_text()


def test_without_a_catalog_the_map_is_not_drawn_and_says_why(tmp_path):
    out = tmp_path / "r"
    md = render(passing_journal(), out).read_text()
    assert "The money-path map is not drawn: the report was rendered without the drill's catalog" in md
    assert not (out / "map.svg").exists()


def test_no_layout_engine_leaves_the_report_whole_and_says_why(tmp_path, monkeypatch):
    from moneypath.map.layout import INSTALL_HINT, LayoutError

    def missing(*args, **kwargs):
        raise LayoutError(INSTALL_HINT)

    monkeypatch.setattr("moneypath.map.render.render_svg", missing)
    out = tmp_path / "r"
    md = render(outage_journal(), out, load_catalog(CATALOG_PATH)).read_text()
    section = md.split("## Money-path map")[1].split("\n## ")[0].strip()
    assert section.startswith("_The money-path map is not drawn: ") and "## Key signals" in md
    assert not (out / "map.svg").exists()
