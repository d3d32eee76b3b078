"""Dashboards of a team's own catalog (tests/foreign: a ticket shop, Komoju and KNET, JPY and KWD, optional
domains off): a disabled feature leaves no row, panel or query behind; a panel without data reads a grey
"no data", never green or red; money counted in minor units is shown in each currency's own exponent.

Grafana cannot run here, so these read the JSON the way Grafana does: a stat, bar gauge or table cell
without a value takes the text and colour of a value mapping for null/NaN, else its first threshold step.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from moneypath.catalog import load_catalog, parse_catalog
from moneypath.catalog.conventions import READINESS_METRICS, Key
from moneypath.catalog.features import FEATURES, SIGNAL_FEATURE
from moneypath.generate import dashboards as d
from moneypath.generate.dashboards.panels import above
from moneypath.generate.rules import recording_rules
from tests.conftest import CATALOG_PATH, ROOT
from tests.support.feature_catalogs import without

FOREIGN = ROOT / "tests" / "foreign" / "moneypath.yaml"
MONEY_SIGNALS = (Key.LEDGER_IMBALANCE_MINOR, Key.DUPLICATE_CHARGED_MINOR_TOTAL)
# Words a row or panel title of a feature's slice would carry.
FEATURE_WORDS = {"ledger": ("ledger write", "imbalance", "postings"),
                 "fraud": ("fraud",), "queues": ("queue", "dead letter", "outbox"),
                 "reconciliation": ("reconcil", "settlement", "mismatch"), "payouts": ("payout",),
                 "webhooks": ("webhook",), "idempotency": ("idempot", "replay"), "cost": ("cost",),
                 "audit": ("audit",), "admission": ("refused", "shed"), "breaker": ("circuit",),
                 "graphql": ("graphql",)}


@pytest.fixture(scope="module")
def foreign_boards(foreign):
    return d.dashboards(foreign, "moneypath.yaml")


def panels(doc):
    return [p for p in doc["panels"] if p["type"] != "row"]


def feature_signal_keys(feature: str) -> set[str]:
    """The signal keys of a feature: from FEATURES, and every reference-catalog signal SIGNAL_FEATURE gives it."""
    reference = load_catalog(CATALOG_PATH)
    keys = set(FEATURES[feature].signals) | {k for k in reference.signals if SIGNAL_FEATURE.get(k) == feature}
    assert keys == {k for k, f in SIGNAL_FEATURE.items() if f == feature}
    return keys


def assert_no_trace_of(boards: dict, feature: str) -> None:
    keys = feature_signal_keys(feature)
    for uid, doc in boards.items():
        text = json.dumps(doc)
        for key in keys:  # the metric (namespace_key) and recording rules named after it (key without _total)
            assert key.removesuffix("_total") not in text, f"{uid} still mentions {key} ({feature} is off)"
        titles = [doc["title"], doc["description"], *(p["title"] for p in doc["panels"])]
        for title in titles:
            for word in FEATURE_WORDS[feature]:
                assert word not in title.lower(), f"{uid}: {title!r} belongs to {feature}, which is off"


# ---------------------------------------------------------------- feature slices


def test_the_foreign_catalog_gets_six_dashboards_that_round_trip_through_the_sdk(foreign, foreign_boards):
    assert sorted(foreign_boards) == sorted(d.dashboard_uid(foreign, name)  # map: its money_path section
                                            for name in ("overview", "providers", "ledger", "slos", "loadtest", "map"))
    for uid, doc in foreign_boards.items():
        assert json.loads(json.dumps(d.parse(doc), cls=JSONEncoder)) == doc, uid


def test_a_disabled_feature_has_no_row_panel_or_query_on_the_foreign_dashboards(foreign, foreign_boards):
    disabled = [f for f in FEATURES if not foreign.enabled(f)]
    assert {"fraud", "queues", "reconciliation", "webhooks"} <= set(disabled)
    for feature in disabled:
        assert_no_trace_of(foreign_boards, feature)
    rows = {p["title"] for doc in foreign_boards.values() for p in doc["panels"] if p["type"] == "row"}
    assert not rows & {"Reconciliation", "Outbox"}, rows
    # the features it has keep their panels
    exprs = " ".join(t["expr"] for doc in foreign_boards.values() for _, t in d.panel_queries(doc))
    assert foreign.metric(Key.COST_USD_TOTAL) in exprs


def test_the_reference_dashboards_show_the_features_with_panels(catalog):
    text = json.dumps(d.dashboards(catalog))
    shown = {f for f in FEATURES if any(k.removesuffix("_total") in text for k in feature_signal_keys(f))}
    # idempotency has no panel
    assert shown == {"ledger", "fraud", "queues", "reconciliation", "webhooks", "cost", "admission", "breaker"}


@pytest.mark.parametrize("feature", [f for f in FEATURES if FEATURES[f].signals])
def test_switching_a_feature_off_removes_its_slice_from_every_dashboard(feature):
    boards = d.dashboards(without(feature))
    assert len(boards) == 7  # the map stays, without the movements whose signals went
    assert_no_trace_of(boards, feature)


@pytest.mark.parametrize("which", ["reference", "foreign"])
def test_queries_name_only_signals_and_recording_rules_the_catalog_has(catalog, foreign, which):
    c = catalog if which == "reference" else foreign
    names = {s.name for s in c.signals.values()}
    series = names | {f"{n}_{suffix}" for n in names for suffix in ("bucket", "count", "sum")}
    recorded = {r["record"] for g in recording_rules(c)["groups"] for r in g["rules"] if "record" in r}
    recorded |= set(READINESS_METRICS.values())  # what `moneypath readiness serve` exports, not a signal
    for uid, doc in d.dashboards(c).items():
        queries = [t["expr"] for _, t in d.panel_queries(doc)]
        queries += [v["query"]["query"] for v in doc["templating"]["list"] if isinstance(v.get("query"), dict)]
        for expr in queries:
            for token in re.findall(rf"(?<![\w:])(?:[a-z_]*:[\w:]+|{c.namespace}_\w+)", expr):
                assert token in series or token in recorded, f"{uid}: unknown {token} in {expr}"


def test_a_built_in_alert_with_its_own_expr_leaves_its_panels_neutral(foreign):
    data = yaml.safe_load(FOREIGN.read_text())
    data["alerts"]["LedgerImbalance"] = {
        "severity": "page", "money_loss": True, "summary": "Ledger postings do not sum to zero.",
        "expr": f"max(abs({foreign.metric(Key.LEDGER_IMBALANCE_MINOR)})) > 0"}
    c = parse_catalog(yaml.safe_dump(data, sort_keys=False), "foreign (LedgerImbalance with expr)")
    overview = d.dashboards(c)[c.links.overview_dashboard]
    imbalance = next(p for p in panels(overview) if p["title"] == "Ledger imbalance")
    assert [s["color"] for s in imbalance["fieldConfig"]["defaults"]["thresholds"]["steps"]] == ["green"]


# ---------------------------------------------------------------- no data is neutral


def is_grey(color: str) -> bool:
    m = re.fullmatch(r"#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})", color.lower())
    return color in ("gray", "grey", "text") or bool(m and len(set(m.groups())) == 1)


def no_data_look(panel: dict) -> tuple[str | None, str | None]:
    """(text, colour) Grafana shows for a stat, bar gauge or table cell without a value."""
    defaults = panel["fieldConfig"]["defaults"]
    for mapping in defaults.get("mappings", []):
        if mapping["type"] == "special" and mapping["options"]["match"] in ("null", "nan", "null+nan"):
            result = mapping["options"]["result"]
            return result.get("text"), result.get("color")
    steps = defaults.get("thresholds", {}).get("steps", [])
    return defaults.get("noValue"), steps[0]["color"] if steps else None


@pytest.mark.parametrize("which", ["reference", "foreign"])
def test_every_thresholded_panel_reads_a_grey_no_data(catalog, foreign, which):
    c = catalog if which == "reference" else foreign
    checked = 0
    for uid, doc in d.dashboards(c).items():
        for p in panels(doc):
            if p["type"] == "timeseries":  # a line that is not there needs no colour
                continue
            where = f"{uid}: {p['title']}"
            text, color = no_data_look(p)
            assert text == "no data" and color and is_grey(color), f"{where}: no data reads {text!r} in {color!r}"
            assert color not in ("green", "red", "dark-red", "orange", "yellow"), where
            if p["type"] in ("stat", "gauge", "bargauge"):
                assert p["fieldConfig"]["defaults"]["noValue"] == "no data", where
            checked += 1
    assert checked > 10


def test_the_no_data_mapping_comes_after_the_panels_own_mappings(catalog):
    circuit = next(p for p in panels(d.dashboards(catalog)[d.dashboard_uid(catalog, "providers")])
                   if p["title"] == "Circuit state")
    mappings = circuit["fieldConfig"]["defaults"]["mappings"]
    assert [m["type"] for m in mappings] == ["value", "special"]
    indexes = [r["index"] for r in mappings[0]["options"].values()] + [mappings[1]["options"]["result"]["index"]]
    assert indexes == list(range(len(indexes)))


# ---------------------------------------------------------------- money in its currency's exponent


def money_panels(c, boards) -> list[tuple[str, dict]]:
    names = tuple(c.metric(k) for k in MONEY_SIGNALS)
    return [(uid, p) for uid, doc in boards.items() for p in panels(doc)
            if any(n in t.get("expr", "") for t in p["targets"] for n in names)]


def currency_view(panel: dict, currency: str) -> tuple[int, dict]:
    """(divisor of the query selecting the currency, the field config override for its series)."""
    divisors = []
    for t in panel["targets"]:
        m = re.search(r'currency(=|=~)"([^"]+)"', t["expr"])
        if m and currency in (m.group(2).split("|") if m.group(1) == "=~" else [m.group(2)]):
            divisors.append(int(re.fullmatch(r".* / (\d+)", t["expr"]).group(1)))
            assert t["legendFormat"] == "{{currency}}"
    assert len(divisors) == 1, (panel["title"], currency, divisors)
    props = [o["properties"] for o in panel["fieldConfig"]["overrides"]
             if o["matcher"] == {"id": "byName", "options": currency}]
    assert len(props) == 1, (panel["title"], currency)
    return divisors[0], {p["id"]: p["value"] for p in props[0]}


def test_money_panels_show_kwd_in_thousandths_and_jpy_in_whole_yen(foreign, foreign_boards):
    found = money_panels(foreign, foreign_boards)
    assert {p["title"] for _, p in found} >= {"Ledger imbalance", "Charged twice (24h)", "Ledger imbalance by currency"}
    for uid, panel in found:
        assert currency_view(panel, "KWD") == (1000, {"unit": "prefix:KWD ", "decimals": 3}), (uid, panel["title"])
        assert currency_view(panel, "JPY") == (1, {"unit": "prefix:JPY ", "decimals": 0}), (uid, panel["title"])


@pytest.mark.parametrize("which", ["reference", "foreign"])
def test_every_money_panel_shows_every_currency_in_its_own_exponent(catalog, foreign, which):
    c = catalog if which == "reference" else foreign
    found = money_panels(c, d.dashboards(c))
    assert len(found) >= 4
    for uid, panel in found:
        for t in panel["targets"]:
            assert "currency" in t["expr"], f"{uid}: {panel['title']}: a query across currencies: {t['expr']}"
        for cur in c.currencies:
            exp = c.exponent(cur)
            assert currency_view(panel, cur) == (10 ** exp, {"unit": f"prefix:{cur} ", "decimals": exp}), (
                uid, panel["title"], cur)


def test_a_money_threshold_in_minor_units_is_scaled_to_each_currency(foreign):
    changed = foreign.model_copy(deep=True)
    changed.alerts["LedgerImbalance"].threshold = 5  # minor units
    overview = d.dashboards(changed)[changed.links.overview_dashboard]
    imbalance = next(p for p in panels(overview) if p["title"] == "Ledger imbalance")
    steps = {cur: currency_view(imbalance, cur)[1]["thresholds"]["steps"] for cur in changed.currencies}
    assert steps["KWD"][1]["value"] == above(0.005) and steps["JPY"][1]["value"] == above(5)
    assert [s["color"] for s in steps["KWD"]] == ["green", "red"]
