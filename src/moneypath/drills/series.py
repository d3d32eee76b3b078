"""The series the report plots: the key signals (authorizations by outcome, provider failure share,
authorization latency p99) and the drill's own plots, each a range query over the whole drill."""

from __future__ import annotations

from moneypath.catalog.conventions import Key
from moneypath.drills.context import DrillContext
from moneypath.drills.endpoints import TargetError
from moneypath.drills.journal import SeriesPanel
from moneypath.generate.compress import format_duration
from moneypath.generate.rules import provider_failures


def key_series(ctx: DrillContext) -> dict[str, SeriesPanel]:
    c = ctx.catalog
    w = format_duration(10 * ctx.scale)
    auth, req = c.metric(Key.AUTHORIZATIONS_TOTAL), c.metric(Key.PROVIDER_REQUESTS_TOTAL)
    hist = c.metric(Key.AUTHORIZATION_DURATION_SECONDS)
    panels = [("Authorizations by outcome", f"sum by (outcome) (rate({auth}[{w}]))", "reqps"),
              ("Provider call failure share",
               f'sum by (provider) (rate({req}{{outcome=~"{provider_failures(c)}"}}[{w}])) '
               f"/ sum by (provider) (rate({req}[{w}]))", "percentunit"),
              ("Authorization latency p99",
               f"histogram_quantile(0.99, sum by (le, provider) (rate({hist}_bucket[{w}])))", "s")]
    panels += [(p.title, ctx.q(p.promql), p.unit) for p in ctx.drill.plots]
    end = ctx.clock()
    step = max(1.0, round((end - ctx.started_at) / 300))  # about 300 points a series, whatever the drill's length
    out = {}
    for title, query, unit in panels:
        try:
            points = ctx.prom.query_range(query, ctx.started_at, end, step)
        except TargetError as exc:
            ctx.event("note", f"series {title!r}: {exc}")
            points = {}
        out[title] = SeriesPanel(query=query, unit=unit, points=points)
    return out
