"""Shared building blocks of the dashboards: thresholds, queries, panels, alert tables and catalog look-ups.

Every panel uses the `datasource` template variable (type prometheus) and sets a unit; only current
panel types (timeseries, stat, gauge, table, bargauge). A panel that colours by thresholds reads a grey
"no data" when its query returns nothing (a special value mapping for null and NaN, and `noValue`),
never the green or red of its first threshold step. Money counted in minor units is shown in each
currency's own units (`money`), and a panel on a feature's signal exists only while the catalog has
that signal (`has`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

from moneypath.catalog import Catalog, Slo
from moneypath.catalog.conventions import BURN_RATE_PAIRS, WATCHDOG_SEVERITY, Key, slo_alert_key
from moneypath.generate.rules import alert_rules

DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
NO_DATA = "no data"
NO_DATA_COLOR = "#8e8e8e"  # a neutral grey: no data is neither good (green) nor bad (red)

# ---------------------------------------------------------------- thresholds


def above(t: float) -> float:
    """Smallest value strictly above t: Grafana colors a step at "value >= step", alerts fire at "> t"."""
    return math.nextafter(t, math.inf)


def clean(x: float) -> float:
    """1 - 14.4 * 0.001 as people write it (0.9856), not as floats compute it."""
    return float(f"{x:.12g}")


def threshold_steps(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return dashboard.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
        [dm.Threshold(value=v, color=color) for v, color in steps])


def bad_above(t: float) -> dashboard.ThresholdsConfig:
    return threshold_steps((None, "green"), (above(t), "red"))


def bad_below(t: float) -> dashboard.ThresholdsConfig:
    """Red while the value is <= t (a 'silent' or 'below objective' alert)."""
    return threshold_steps((None, "red"), (above(t), "green"))


def neutral() -> dashboard.ThresholdsConfig:
    return threshold_steps((None, "green"))


def threshold(c: Catalog, key: str) -> float | None:
    """A built-in alert's threshold; None when the catalog has no such alert or gives it its own expr."""
    alert = c.alerts.get(key)
    return alert.threshold if alert is not None and alert.expr is None else None


def alert_above(c: Catalog, key: str) -> dashboard.ThresholdsConfig:
    """Red above the alert's threshold, or neutral when the alert has none."""
    t = threshold(c, key)
    return bad_above(t) if t is not None else neutral()


def slo_success_steps(slo: Slo) -> dashboard.ThresholdsConfig:
    """Success ratio: red below the fastest page burn, orange below the slowest ticket burn, green at the objective."""
    fastest = max(f for _, _, _, f in BURN_RATE_PAIRS)
    slowest = min(f for _, _, _, f in BURN_RATE_PAIRS)
    return threshold_steps((None, "red"), (clean(1 - fastest * slo.error_budget), "orange"),
                  (clean(1 - slowest * slo.error_budget), "yellow"), (clean(slo.objective / 100), "green"))


def burn_steps() -> dashboard.ThresholdsConfig:
    colors = ("yellow", "orange", "red", "dark-red")
    factors = sorted({f for _, _, _, f in BURN_RATE_PAIRS})
    return threshold_steps((None, "green"), *((f, colors[min(i, len(colors) - 1)]) for i, f in enumerate(factors)))


# ---------------------------------------------------------------- queries and panels


def q(expr: str, legend: str = "__auto", ref: str = "A", instant: bool = False, exemplar: bool = False,
      fmt: str | None = None) -> prometheus.Dataquery:
    query = (prometheus.Dataquery().expr(expr).ref_id(ref).legend_format(legend).datasource(DS)
             .editor_mode(pm.QueryEditorMode.CODE))
    query = query.instant() if instant else query.range()
    if exemplar:
        query = query.exemplar(True)
    if fmt == "table":
        query = query.format(pm.PromQueryFormat.TABLE)
    return query


def _refs(queries: Iterable[prometheus.Dataquery]) -> list[prometheus.Dataquery]:
    return [query.ref_id(chr(ord("A") + i)) for i, query in enumerate(queries)]


def _links(links: dict[str, str]) -> list[dashboard.DashboardLink]:
    return [dashboard.DashboardLink(title).type(dm.DashboardLinkType.LINK).url(url).target_blank(True)
            for title, url in sorted(links.items())]


def with_no_data(mappings: list[dm.ValueMapping] | None = None) -> list[dm.ValueMapping]:
    """The mappings plus null and NaN → a grey "no data" (what a stat, gauge or table cell shows without data)."""
    mappings = list(mappings or [])
    index = sum(len(m.options) for m in mappings if isinstance(m, dm.ValueMap))
    return [*mappings, dm.SpecialValueMap(options=dm.DashboardSpecialValueMapOptions(
        match=dm.SpecialValueMatch.NULL_AND_NAN,
        result=dm.ValueMappingResult(text=NO_DATA, color=NO_DATA_COLOR, index=index)))]


Overrides = list[tuple[str, list[dm.DynamicConfigValue]]]  # (series display name, field config)


def _overrides(panel, overrides: Overrides | None):
    for name, properties in overrides or ():
        panel = panel.override_by_name(name, properties)
    return panel


@dataclass(frozen=True)
class PanelFields:
    """How a panel shows its values (Grafana's field config): their unit, the thresholds that colour them, value
    mappings (a stat's; the "no data" one is always added), and per-series overrides (`money`'s)."""

    unit: str
    thresholds: dashboard.ThresholdsConfig | None = None
    mappings: list[dm.ValueMapping] | None = None
    overrides: Overrides | None = None


@dataclass(frozen=True)
class PanelSize:
    """A panel's width in grid columns (of 24) and its height in grid rows."""

    w: int
    h: int


def stat_panel(title: str, desc: str, queries: list, fields: PanelFields, runbooks: dict[str, str] | None = None,
               size: PanelSize = PanelSize(4, 5)) -> stat.Panel:
    panel = (stat.Panel().title(title).description(desc).unit(fields.unit).datasource(DS).targets(_refs(queries))
             .thresholds(fields.thresholds).color_scheme(dashboard.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
             .mappings(with_no_data(fields.mappings)).no_value(NO_DATA)
             .color_mode(common.BigValueColorMode.BACKGROUND).graph_mode(common.BigValueGraphMode.AREA)
             .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"])).span(size.w).height(size.h))
    if runbooks:
        panel = panel.links(_links(runbooks))
    return _overrides(panel, fields.overrides)


def ts_panel(title: str, desc: str, queries: list, fields: PanelFields, runbooks: dict[str, str] | None = None,
             size: PanelSize = PanelSize(12, 8), stack: bool = False) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).description(desc).unit(fields.unit).datasource(DS)
             .targets(_refs(queries))
             .span(size.w).height(size.h).fill_opacity(10).line_width(1).show_points(common.VisibilityMode.NEVER)
             .legend(cb.VizLegendOptions().display_mode(common.LegendDisplayMode.TABLE)
                     .placement(common.LegendPlacement.BOTTOM).show_legend(True).calcs(["lastNotNull", "max"]))
             .tooltip(cb.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING)))
    if fields.thresholds is not None:
        panel = panel.thresholds(fields.thresholds).thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED))
    if stack:
        panel = panel.stacking(cb.StackingConfig().mode(common.StackingMode.NORMAL))
    if runbooks:
        panel = panel.links(_links(runbooks))
    return _overrides(panel, fields.overrides)


def bar_panel(title: str, desc: str, queries: list, fields: PanelFields, runbooks: dict[str, str] | None = None,
              size: PanelSize = PanelSize(8, 6)) -> bargauge.Panel:
    panel = (bargauge.Panel().title(title).description(desc).unit(fields.unit).datasource(DS).targets(_refs(queries))
             .thresholds(fields.thresholds).color_scheme(dashboard.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
             .mappings(with_no_data(fields.mappings)).no_value(NO_DATA)
             .display_mode(common.BarGaugeDisplayMode.GRADIENT).orientation(common.VizOrientation.HORIZONTAL)
             .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"])).span(size.w).height(size.h))
    if runbooks:
        panel = panel.links(_links(runbooks))
    return _overrides(panel, fields.overrides)


def organize(exclude: Iterable[str]) -> dm.DataTransformerConfig:
    return dm.DataTransformerConfig(id_val="organize", options={"excludeByName": {name: True for name in exclude}})


# ---------------------------------------------------------------- alerts


@dataclass(frozen=True)
class AlertRef:
    name: str
    runbook_url: str


def alert_refs(c: Catalog) -> dict[str, AlertRef]:
    """Every generated alert by name, with the runbook URL its rules carry."""
    out: dict[str, AlertRef] = {}
    for group in alert_rules(c)["groups"]:
        for rule in group["rules"]:
            if rule["labels"]["severity"] == WATCHDOG_SEVERITY:
                continue  # always firing by design: a heartbeat, not a state on-call reads
            out.setdefault(rule["alert"], AlertRef(rule["alert"], rule["annotations"]["runbook_url"]))
    return out


ALERT_STATE = [dm.ValueMap(options={
    "0": dm.ValueMappingResult(text="OK", color="green", index=0),
    "1": dm.ValueMappingResult(text="PENDING", color="orange", index=1),
    "2": dm.ValueMappingResult(text="FIRING", color="red", index=2),
})]


def alert_state_expr(alert: AlertRef) -> str:
    """2 firing, 1 pending, 0 quiet — always one series, labelled with the alert and its runbook."""
    sel = f'ALERTS{{alertname="{alert.name}"'
    state = (f'(2 * max by (alertname) ({sel}, alertstate="firing"}})) or max by (alertname) ({sel}}})'
             f' or label_replace(vector(0), "alertname", "{alert.name}", "", "")')
    return f'label_replace({state}, "runbook_url", "{alert.runbook_url}", "", "")'


def alerts_table(title: str, alerts: list[AlertRef], w: int = 24, h: int | None = None) -> table.Panel:
    """One row per alert of this dashboard: its state and a link to its runbook."""
    return (table.Panel().title(title)
            .description("Each alert this dashboard covers, by name (from the generated alert rules): "
                         "OK, PENDING or FIRING, with its runbook.")
            .unit("short").datasource(DS).align(common.FieldTextAlignment.AUTO).inspect(False)
            .targets([q("\nor\n".join(alert_state_expr(a) for a in alerts), legend="{{alertname}}", instant=True,
                        fmt="table")])
            .with_transformation(organize(["Time"]))
            .mappings(with_no_data(ALERT_STATE)).no_value(NO_DATA).thresholds(neutral())
            .override_by_name("Value", [dm.DynamicConfigValue(id_val="displayName", value="state"),
                                        dm.DynamicConfigValue(id_val="custom.cellOptions",
                                                              value={"type": "color-background"})])
            .override_by_name("runbook_url", [dm.DynamicConfigValue(id_val="links", value=[
                {"title": "Open runbook", "url": "${__value.raw}", "targetBlank": True}])])
            .sort_by([cb.TableSortByFieldState().display_name("state").desc(True)])
            .span(w).height(h or min(4 + len(alerts), 14)))


# ---------------------------------------------------------------- money in its currency's units


def money(c: Catalog, expr: Callable[[str], str], threshold_minor: float | None = None,
          legend: str = "{{currency}}") -> tuple[list[prometheus.Dataquery], Overrides]:
    """Queries and per-currency field overrides for money counted in minor units (`*_minor*` signals).

    `expr(matcher)` is the query over the minor-unit series selected by a currency matcher, keeping the
    `currency` label (the legend). One query per exponent divides by 10^exponent (JPY by 1, EUR by 100,
    KWD by 1000); one override per currency shows it as e.g. "KWD 6.235" (unit `prefix:KWD `, decimals
    3), and scales an alert threshold given in minor units.
    """
    by_exponent: dict[int, list[str]] = {}
    for cur in c.currencies:
        by_exponent.setdefault(c.exponent(cur), []).append(cur)
    queries = []
    for exp, curs in sorted(by_exponent.items()):
        matcher = f'currency="{curs[0]}"' if len(curs) == 1 else f'currency=~"{"|".join(curs)}"'
        queries.append(q(f"{expr(matcher)} / {10 ** exp}", legend))
    overrides: Overrides = []
    for cur in c.currencies:
        exp = c.exponent(cur)
        props = [dm.DynamicConfigValue(id_val="unit", value=f"prefix:{cur} "),
                 dm.DynamicConfigValue(id_val="decimals", value=exp)]
        if threshold_minor:  # 0 minor units is 0 in every currency: the panel's own thresholds hold
            props.append(dm.DynamicConfigValue(id_val="thresholds",
                                               value=bad_above(clean(threshold_minor / 10 ** exp)).build()))
        overrides.append((cur, props))
    return queries, overrides


# ---------------------------------------------------------------- boards and catalog look-ups


@dataclass
class Board:
    name: str
    title: str
    description: str
    alerts: list[AlertRef]
    rows: list[tuple[str, list]] = field(default_factory=list)
    variables: list = field(default_factory=list)


def slos_on(c: Catalog, signals: set[str]) -> list[str]:
    """SLOs whose SLI is made of one of these signals."""
    out = []
    for key, slo in c.slos.items():
        used = {slo.sli.latency.signal} if slo.sli.latency else {slo.good.signal, slo.total.signal}
        if used & signals:
            out.append(key)
    return out


def slo_by_signal(c: Catalog, signal: str) -> tuple[str, Slo] | None:
    keys = slos_on(c, {signal})
    return (keys[0], c.slos[keys[0]]) if keys else None


def pick_alerts(c: Catalog, refs: dict[str, AlertRef], keys: Iterable[str]) -> list[AlertRef]:
    names = []
    for key in keys:
        if key in c.alerts or key in {slo_alert_key(s) for s in c.slos}:
            names.append(c.alert_name(key))
    return [refs[n] for n in sorted(set(names)) if n in refs]


def runbook_links(c: Catalog, refs: dict[str, AlertRef], *keys: str) -> dict[str, str]:
    return {f"Runbook: {a.name}": a.runbook_url for a in pick_alerts(c, refs, keys)}


def authorization_latency_slo(c: Catalog) -> tuple[str, Slo] | None:
    for key, slo in c.slos.items():
        if slo.sli.latency and slo.sli.latency.signal == Key.AUTHORIZATION_DURATION_SECONDS:
            return key, slo
    return None


def quantile(q_: float, hist: str, by: str = "", match: str = "", window: str = RATE) -> str:
    labels = f"le, {by}" if by else "le"
    return f"histogram_quantile({q_}, sum by ({labels}) (rate({hist}_bucket{match}[{window}])))"
