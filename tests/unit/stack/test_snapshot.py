"""`moneypath snapshot` reads each series as Grafana shows it: money in its currency's own exponent
(a ticket shop's JPY and KWD), per-currency overrides and thresholds; no Prometheus process (a fake answers)."""

from __future__ import annotations

import pytest

from moneypath._common.plots import Series
from moneypath.catalog import load_catalog
from moneypath.map import render
from moneypath.map.marks import MapHealth
from moneypath.stack import snapshot, snapshot_map
from tests.conftest import ROOT
from tests.map_support import grid_layout

FOREIGN_PATH = ROOT / "tests" / "foreign" / "moneypath.yaml"
NOW = 1_773_478_800.0  # 2026-03-14 09:00 UTC


@pytest.fixture(autouse=True)
def _map_without_dot_or_network(monkeypatch):
    """The catalogs declare a money path, which the snapshot draws: laid out by a stand-in for dot (the unit tier
    starts no process) and with no live read."""
    monkeypatch.setattr(render, "layout", grid_layout)
    monkeypatch.setattr(snapshot_map, "_read_live", lambda graph, url: MapHealth(source=url))


@pytest.fixture(scope="module")
def foreign():
    """A ticket shop's catalog: Komoju and KNET, JPY (no minor unit) and KWD (three decimals)."""
    return load_catalog(FOREIGN_PATH)


def money_panel(kind: str = "stat") -> dict:
    """A panel as the dashboards write money: queried in each currency's unit, one byName override per currency."""
    def override(cur: str, decimals: int, red_above: float | None = None) -> dict:
        props = [{"id": "unit", "value": f"prefix:{cur} "}, {"id": "decimals", "value": decimals}]
        if red_above is not None:
            props.append({"id": "thresholds", "value": {"mode": "absolute", "steps": [
                {"value": None, "color": "green"}, {"value": red_above, "color": "red"}]}})
        return {"matcher": {"id": "byName", "options": cur}, "properties": props}

    return {"id": 9, "type": kind, "title": "Ledger imbalance", "targets": [],
            "fieldConfig": {"defaults": {"unit": "short", "thresholds": {"mode": "absolute", "steps": [
                {"value": None, "color": "green"}, {"value": 1e9, "color": "red"}]}},
                "overrides": [override("JPY", 0, 10_000), override("KWD", 3, 10)]}}


def drawn(monkeypatch) -> list:
    figures = []
    monkeypatch.setattr(snapshot, "save", lambda fig, path: figures.append(fig))
    return figures


def test_a_money_stat_reads_in_each_currencys_own_exponent(foreign, monkeypatch, tmp_path):
    figures = drawn(monkeypatch)
    series = [Series("JPY", [NOW], [6235.0]), Series("KWD", [NOW], [6.235])]  # 6235 minor units each
    snapshot._plot(foreign, money_panel(), series, tmp_path / "p.png")
    texts = [t.get_text() for ax in figures[0].axes for t in ax.texts]
    assert "JPY 6,235" in texts and "KWD 6.235" in texts
    # each currency's override thresholds: JPY 6,235 is under its 10,000, KWD 6.235 under its 10
    assert [snapshot.threshold_color(money_panel(), 6235.0, "JPY"), snapshot.threshold_color(money_panel(), 12.5, "KWD")] \
        == [snapshot.COLORS["green"], snapshot.COLORS["red"]]


def test_money_bars_and_graphs_read_in_the_currency(foreign, monkeypatch, tmp_path):
    figures = drawn(monkeypatch)
    snapshot._plot(foreign, money_panel("bargauge"), [Series("JPY", [NOW], [6235.0]), Series("KWD", [NOW], [6.235])],
                   tmp_path / "b.png")
    assert {" JPY 6,235", " KWD 6.235"} <= {t.get_text() for t in figures[0].axes[0].texts}
    snapshot._plot(foreign, money_panel("timeseries"), [Series("KWD", [NOW - 60, NOW], [0.0, 6.235])],
                   tmp_path / "t.png")
    assert figures[1].axes[0].yaxis.get_major_formatter()(6.235, 0) == "KWD 6.235"
    snapshot._plot(foreign, money_panel("timeseries"), [Series("JPY", [NOW], [6235.0]), Series("KWD", [NOW], [6.235])],
                   tmp_path / "t2.png")
    assert figures[2].axes[0].get_ylabel() == "each series in its own unit"


def test_value_text_uses_the_catalogs_exponents(foreign):
    assert snapshot.value_text(foreign, {"unit": "prefix:JPY ", "decimals": 0}, 6235.0) == "JPY 6,235"
    assert snapshot.value_text(foreign, {"unit": "prefix:KWD ", "decimals": 3}, -6.235) == "KWD -6.235"
    assert snapshot.value_text(foreign, {"unit": "prefix:KWD ", "decimals": 3}, None) == "no data"
    assert snapshot.value_text(foreign, {"unit": "prefix:≈", "decimals": 1}, 1234.56) == "≈1,234.6"  # not money
    assert snapshot.value_text(foreign, {"unit": "percentunit"}, 0.5) == "50%"


class FakePrometheus:
    """Answers the overview's queries: the ledger imbalance per currency, in its own unit; nothing else."""

    url = "http://prometheus.test:9090"

    def __init__(self, *args, **kwargs):
        self.queries = []

    def range(self, query, start, end, step):
        self.queries.append(query)
        if "shop_ledger_imbalance_minor" not in query:
            return []
        scale = 1000 if 'currency="KWD"' in query and "/ 1000" in query else 1
        cur = "KWD" if 'currency="KWD"' in query else "JPY"
        return [{"metric": {"currency": cur}, "values": [[start, "0"], [end, str(6235 / scale)]]}]

    def instant(self, query, at=None):
        return []

    def close(self):
        pass


def test_the_overview_snapshot_of_a_foreign_service_shows_its_money(foreign, monkeypatch, tmp_path):
    figures = []
    monkeypatch.setattr(snapshot, "save", lambda fig, path: (figures.append(fig), path.write_bytes(b"")))
    monkeypatch.setattr(snapshot, "Prometheus", FakePrometheus)
    page = snapshot.snapshot(foreign, FakePrometheus.url, tmp_path, snapshot.SnapshotSpan("15m", NOW),
                             progress=lambda *_: None)
    imbalance = next(f for f in figures if f.get_suptitle() == "Ledger imbalance")
    texts = [t.get_text() for ax in imbalance.axes for t in ax.texts]
    assert "JPY 6,235" in texts and "KWD 6.235" in texts
    assert not [t for f in figures for ax in f.axes for t in ax.texts if t.get_text() in ("6235", "6.235", "6,235")]
    assert "<title>" in page.read_text()


@pytest.mark.parametrize("factor, week, rate", [(1, "[7d]", "[60s]"), (60, "[168m]", "[15s]"), (10, "[1008m]", "[15s]")])
def test_a_compressed_stacks_snapshot_divides_the_panels_windows_by_its_factor(foreign, monkeypatch, tmp_path,
                                                                               factor, week, rate):
    """A production window on a 60x stack spans 60 times more of its history: the snapshot compresses the panels'
    windows as the stack's rules are (the shop's cost panel compares with 7 days), and Grafana's one-minute floor
    of $__rate_interval too (15 m at 240 points: 4 steps of 3.75 s)."""
    from moneypath._common.plots import pyplot

    prom = FakePrometheus()
    monkeypatch.setattr(snapshot, "save", lambda fig, path: (path.write_bytes(b""), pyplot().close(fig)))
    monkeypatch.setattr(snapshot, "Prometheus", lambda *a, **k: prom)
    page = snapshot.snapshot(foreign, FakePrometheus.url, tmp_path, snapshot.SnapshotSpan("15m", NOW),
                             progress=lambda *_: None, time_factor=factor)
    queries = " ".join(prom.queries)
    assert week in queries and (factor == 1 or "[7d]" not in queries)
    assert rate in queries and "$__rate_interval" not in queries
    assert ("its windows divided by" in page.read_text()) is (factor != 1)


def test_a_snapshot_time_factor_below_one_is_refused(foreign, tmp_path):
    with pytest.raises(snapshot.SnapshotError, match="--time-factor must be at least 1, got 0.5"):
        snapshot.snapshot(foreign, FakePrometheus.url, tmp_path, snapshot.SnapshotSpan("15m"), time_factor=0.5)
