"""The money-path maps `moneypath map` draws (Graphviz dot for real), opened in headless Chromium (the Debian
package, through Playwright): the reference service's, each other shipped catalog's that declares a money path,
and one joining two catalogs (the reference one and a ticket shop whose edge goes to `payments/payments`).

Read from the SVG's DOM at 1920×1080: every declared node and edge is there; no two node boxes overlap; every
label lies inside its node's box and inside the picture; the page fits the window without scrollbars; printed
at A4 landscape it is one page. A screenshot of each is saved (the directory is printed)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from moneypath.catalog import load_catalog
from moneypath.map.graph import build_map
from tests.conftest import CATALOG_PATH, ROOT, run_cli
from tests.docs_examples import args_of, code_block, command, fill
from tests.integration._common.test_html_pages import PAGE_TIMEOUT_MS, browser, screenshots  # noqa: F401 - fixtures
from tests.map_support import CROSSING_EDGE, tickets_catalog

pytestmark = pytest.mark.integration

# The catalogs whose maps are drawn alone: each one that declares a `money_path:` section.
CATALOGS = [CATALOG_PATH, ROOT / "tests" / "foreign" / "moneypath.yaml",
            ROOT / "tests" / "foreign" / "djangoshop" / "ops" / "moneypath.yaml"]
DRAWN = [p for p in CATALOGS if re.search(r"(?m)^money_path:", p.read_text())]
JOINED = "joined"
VIEWPORT = {"width": 1920, "height": 1080}
SLACK_PX = 0.75  # a rounding of the browser's boxes, not room for a clipped glyph
DOCS_PAGE, DOCS_HEADING = "docs/map.md", "The command"

READ_MAP = """() => {
  const box = r => ({left: r.left, top: r.top, right: r.right, bottom: r.bottom});
  const svg = document.querySelector('main svg');
  return {
    svg: box(svg.getBoundingClientRect()),
    nodes: [...svg.querySelectorAll('g.node')].map(g => ({
      id: g.dataset.node, box: box(g.querySelector('.box').getBoundingClientRect()),
      texts: [...g.querySelectorAll('text')].map(t => ({text: t.textContent, box: box(t.getBoundingClientRect())}))})),
    edges: [...svg.querySelectorAll('g.edge')].map(g => ({
      id: g.dataset.edge, texts: [...g.querySelectorAll('text')].map(t => ({text: t.textContent,
                                                                           box: box(t.getBoundingClientRect())}))})),
    legend: [...svg.querySelectorAll('g.legend text')].map(t => ({text: t.textContent,
                                                                  box: box(t.getBoundingClientRect())})),
    scroll: [document.documentElement.scrollWidth, document.documentElement.scrollHeight],
    window: [window.innerWidth, window.innerHeight],
  };
}"""


def draw(name: str, tmp_path: Path) -> tuple[list[Path], Path]:
    """The catalogs of the map `name` and the directory `moneypath map` wrote its files into."""
    paths = [CATALOG_PATH, tickets_catalog(tmp_path)] if name == JOINED else [ROOT / name]
    out = tmp_path / "map"
    result = run_cli("map", *map(str, paths), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    return paths, out


def inside(inner: dict, outer: dict) -> bool:
    return (inner["left"] >= outer["left"] - SLACK_PX and inner["right"] <= outer["right"] + SLACK_PX
            and inner["top"] >= outer["top"] - SLACK_PX and inner["bottom"] <= outer["bottom"] + SLACK_PX)


def overlap(a: dict, b: dict) -> bool:
    return (min(a["right"], b["right"]) - max(a["left"], b["left"]) > SLACK_PX
            and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > SLACK_PX)


def pdf_pages(pdf: bytes) -> int:
    """Pages of a PDF: its page objects (`/Type /Page`, not the `/Type /Pages` tree)."""
    try:
        from pypdf import PdfReader
    except ModuleNotFoundError:
        return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))
    import io

    return len(PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("name", [str(p.relative_to(ROOT)) for p in DRAWN] + [JOINED])
def test_the_map_reads_whole_in_chromium_and_prints_on_one_page(name, tmp_path, browser, screenshots):  # noqa: F811
    paths, out = draw(name, tmp_path)
    graph = build_map([load_catalog(p) for p in paths])
    page = browser.new_page(viewport=VIEWPORT)
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type in ("error", "warning") else None)
    page.on("request", lambda req: problems.append(f"request: {req.url}")
            if not req.url.startswith("file://") else None)
    try:
        page.goto((out / "money-path.html").as_uri(), wait_until="load", timeout=PAGE_TIMEOUT_MS)
        drawn = page.evaluate(READ_MAP)
        assert {n["id"] for n in drawn["nodes"]} == set(graph.nodes)
        assert {e["id"] for e in drawn["edges"]} == {e.id for e in graph.edges}
        if name == JOINED:
            assert CROSSING_EDGE in {e["id"] for e in drawn["edges"]}
        nodes = drawn["nodes"]
        overlapping = [(a["id"], b["id"]) for i, a in enumerate(nodes) for b in nodes[i + 1:]
                       if overlap(a["box"], b["box"])]
        assert not overlapping, f"{name}: node boxes overlap: {overlapping}"
        clipped = [f"{n['id']}: {t['text']!r}" for n in nodes for t in n["texts"] if not inside(t["box"], n["box"])]
        assert not clipped, f"{name}: labels outside their node's box: {clipped}"
        texts = [t for n in nodes for t in n["texts"]] + [t for e in drawn["edges"] for t in e["texts"]] \
            + drawn["legend"]
        outside = [t["text"] for t in texts if not inside(t["box"], drawn["svg"])]
        assert not outside, f"{name}: text outside the picture: {outside}"
        assert all(t["text"] for e in drawn["edges"] for t in e["texts"][:1]), "every edge has its label"
        width, height = drawn["window"]
        assert drawn["scroll"][0] <= width and drawn["scroll"][1] <= height, \
            f"{name}: the page scrolls: {drawn['scroll']} in a {width}x{height} window"
        assert inside(drawn["svg"], {"left": 0, "top": 0, "right": width, "bottom": height})
        shot = screenshots / f"map-{Path(name).parent.name or Path(name).stem}-{len(paths)}.png"
        page.screenshot(path=str(shot), timeout=PAGE_TIMEOUT_MS)
        pdf = page.pdf(format="A4", landscape=True, print_background=True)
        assert pdf_pages(pdf) == 1, f"{name}: printed on {pdf_pages(pdf)} A4 pages"
        assert not problems, problems
    finally:
        page.close()


def test_the_docs_command_draws_the_reference_map(tmp_path):
    """docs/map.md's command, as written (only --out goes to a temporary directory)."""
    argv = command(code_block(DOCS_PAGE, DOCS_HEADING, "sh"), "map")
    out = tmp_path / "build" / "map"
    result = run_cli(*args_of(fill(argv, out=str(out))))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["money-path.html", "money-path.svg"]
    svg = (out / "money-path.svg").read_text()
    assert svg.count('class="node"') == len(build_map([load_catalog(CATALOG_PATH)]).nodes)
    assert shutil.which("dot") is not None  # drawn by Graphviz for real, not a stand-in


def test_every_live_state_renders_with_its_legend_entry_and_the_alerts_on_no_edge(
        tmp_path, browser, screenshots):  # noqa: F811
    """The live states as `moneypath map --prometheus` draws them (marks set here: how each is read is proven in
    tests/unit/map and tests/integration/liars/test_idle_map.py): each state on an edge, its word beside the
    neutral ones, its legend entry, and the firing page alert on no edge in a box above the map."""
    from moneypath.map.marks import ORDER, MapHealth, Mark, State
    from moneypath.map.page import render_page

    graph = build_map([load_catalog(CATALOG_PATH)])
    marks = {"payments#0": Mark(State.GREEN, ("8/s", "errors 0 %", "p99 120 ms"), "within"),
             "payments#1": Mark(State.RED, ("4/s", "errors 100 %"), "page alert fires"),
             "payments#2": Mark(State.AMBER, ("4/s", "errors 20.5 %"), "beyond its objective"),
             "payments#3": Mark(State.IDLE, ("0/s",), "idle: no traffic"),
             "payments#8": Mark(State.NO_OBJECTIVE, ("1/s",), "no objective")}
    edges = {e.id: marks.get(e.id, Mark(State.GREY, why="not measured: no traffic can be seen")) for e in graph.edges}
    nodes = {n: Mark(State.IDLE if n.endswith("ledger") else State.GREY, why="x") for n in graph.nodes}
    health = MapHealth(nodes=nodes, edges=edges, at=1_780_000_000.0, source="http://127.0.0.1:9090", answered=True,
                       unplaced=("MoneyPathLedgerImbalance{currency=EUR, money_loss=true}",))
    path = tmp_path / "money-path.html"
    path.write_text(render_page(graph, health))
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(path.as_uri(), wait_until="load", timeout=PAGE_TIMEOUT_MS)
        drawn = page.evaluate(READ_MAP)
        states = page.evaluate("() => Object.fromEntries([...document.querySelectorAll('main svg g.edge')]"
                               ".map(g => [g.dataset.edge, g.dataset.state]))")
        assert set(states.values()) == {s.value for s in State}
        words = {e["id"]: [t["text"] for t in e["texts"]] for e in drawn["edges"]}
        assert words["payments#3"][-1] == "idle" and words["payments#8"][-1] == "no objective"
        assert words["payments#4"][-1] == "not measured" and "idle" not in words["payments#0"]
        legend = [t["text"] for t in drawn["legend"]]
        assert all(s.meaning in legend for s in ORDER)
        notice = page.evaluate("() => [...document.querySelectorAll('main svg .notice')].map(t => t.textContent)")
        assert " ".join(notice) == "firing, on no edge: MoneyPathLedgerImbalance{currency=EUR, money_loss=true}"
        box = page.evaluate("() => { const r = document.querySelector('main svg g.notices').getBoundingClientRect();"
                            " return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; }")
        assert inside(box, drawn["svg"]) and not any(overlap(box, n["box"]) for n in drawn["nodes"])
        assert drawn["scroll"][0] <= drawn["window"][0] and drawn["scroll"][1] <= drawn["window"][1]
        page.screenshot(path=str(screenshots / "map-live-states.png"), timeout=PAGE_TIMEOUT_MS)
    finally:
        page.close()
