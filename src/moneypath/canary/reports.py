"""The canary judge's reports of a `CanaryVerdict`: JSON for machines (the judge's answer as it is) and one
self-contained HTML page for people: the verdict and why, the money invariants, per metric the resolved PromQL, the
canary's and the baseline's values, the test, effect size, p-value and boundary, the verdict and why, and plots of
the looks so far (the shares of both arms, and the test's z against its boundary), drawn with matplotlib and
embedded in the page."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

from moneypath._common import plots
from moneypath._common.atomic import write_text
from moneypath._common.report import Bullets, Cell, Document, Image, Para, Section, Table
from moneypath._common.verdict import FAIL, PASS, jsonable
from moneypath.canary.results import Arm, CanaryVerdict
from moneypath.catalog.canary_policy import LATENCY_METRIC

MAX_PLOTS = 12  # tests drawn; the table lists every one


def to_json(result: CanaryVerdict | dict) -> str:
    """The verdict's JSON, indented; strict: a NaN that reached a dict raises (the verdict's own JSON has none)."""
    data = result.as_json() if isinstance(result, CanaryVerdict) else result
    return json.dumps(data, indent=2, default=str, allow_nan=False) + "\n"


def _num(v, fmt: str = "{:.4g}") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return fmt.format(v)


def _count(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.4g}"


def _share(arm: Arm | None) -> str:
    if arm is None:
        return "—"
    return f"{_count(arm.bad)} / {_count(arm.total)}" + (f" = {arm.ratio:.3%}" if arm.ratio is not None else "")


def _status_cell(status: str) -> Cell:
    return Cell(status, "ok" if status == PASS else "fail" if status == FAIL else "na")


def _looks(test_id: str, history: list[dict]) -> list[tuple[float, dict]]:
    looks = [(h["at"], h["tests"][test_id]) for h in history if test_id in h.get("tests", {})]
    return [(t, v) for t, v in looks if v.get("canary_ratio") is not None]


def plot_looks(test_ids: list[str], history: list[dict]) -> str | None:
    """One PNG (a data URI) of the looks so far, a row per test with two looks or more: both arms' shares, and the
    test's z against its boundary; None when no test has two looks yet."""
    rows = [(test_id, looks) for test_id in test_ids if len(looks := _looks(test_id, history)) >= 2][:MAX_PLOTS]
    if not rows:
        return None
    plt = plots.pyplot()
    fig, axes = plt.subplots(len(rows), 2, figsize=(10, 2.3 * len(rows)), squeeze=False)
    for (test_id, looks), (shares, zs) in zip(rows, axes):
        times = [t for t, _ in looks]
        span = (min(times), max(times))

        def series(name, key, looks=looks):
            pairs = [(t, v.get(key)) for t, v in looks if v.get(key) is not None]
            return plots.Series(name, [t for t, _ in pairs], [x for _, x in pairs])

        plots.draw_lines(shares, [series("canary", "canary_ratio"), series("baseline", "baseline_ratio")], span)
        quantile = test_id.startswith(LATENCY_METRIC)  # its arms' values are quantiles, in seconds
        plots.finish(shares, f"{test_id}: {'quantile' if quantile else 'bad share'}", "s" if quantile else "percentunit",
                     False)
        statistic = [s for s in (series("z", "z"), series("boundary", "boundary")) if s.values]
        plots.draw_lines(zs, statistic, span)
        plots.finish(zs, "z and the boundary it must cross", "", not statistic)
    buf = io.BytesIO()
    plots.save(fig, buf)  # savefig takes a file object as well as a path
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _tolerance(f: dict, plan) -> float | None:
    """The effect a test tolerates: latency_shift's shift (seconds), else the plan's min_effect."""
    return f.get("tolerance") if "quantile" in f else plan.min_effect if plan else None


def _quantile_cell(f: dict, arm: str) -> str:
    """latency_shift's arm: its quantile ± se, of how many authorizations."""
    value, se, events = f.get(f"{arm}_quantile"), f.get(f"{arm}_se"), f.get(f"{arm}_events")
    if value is None:
        return "—"
    return f"p{f['quantile'] * 100:g} {value * 1000:.1f} ± {_num(se and se * 1000, '{:.1f}')} ms of {_count(events or 0)}"


def plot_latency(metrics) -> str | None:
    """One PNG (a data URI): both arms' latency distributions (the share of authorizations at or under each bucket
    bound), the compared quantiles and the tolerated shift; None without a latency_shift row carrying them."""
    rows = [m for m in metrics if m.figures.get("distribution")]
    if not rows:
        return None
    dist, tolerance = rows[0].figures["distribution"], rows[0].figures.get("tolerance")
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.2))
    for arm, style in (("baseline", "-"), ("canary", "--")):
        counts = dist[arm]
        if counts and counts[-1] > 0:
            ax.plot(dist["le"], [c / counts[-1] for c in counts[:len(dist["le"])]], style, marker="o", label=arm)
    for m in rows:
        f = m.figures
        ax.axhline(f["quantile"], color="grey", lw=0.6)
        for arm, mark in (("baseline", "|"), ("canary", "x")):
            if f.get(f"{arm}_quantile") is not None:
                ax.plot([f[f"{arm}_quantile"]], [f["quantile"]], mark, color="black", markersize=9)
    ax.set_xscale("log")
    ax.set_xlabel("seconds (bucket upper bounds)")
    ax.legend(loc="lower right", fontsize=8)
    shift = f"tolerated shift {tolerance * 1000:.1f} ms" if tolerance is not None else "no tolerance"
    plots.finish(ax, f"authorization latency, share at or under each bound ({shift}; | baseline, x canary "
                 "quantile)", "percentunit", False)
    buf = io.BytesIO()
    plots.save(fig, buf)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def document(result: CanaryVerdict) -> Document:
    verdict = result.verdict
    head = [Para(result.reason or verdict, "bad" if verdict == FAIL else "ok" if verdict == PASS else "note"),
            Bullets([("canary", result.canary), ("baseline", result.baseline), ("since", str(result.since)),
                     ("judged at", result.at), ("window", f"{result.window_s} s" if result.window_s else "—"),
                     ("Prometheus", result.prometheus), ("catalog", str(result.catalog)),
                     ("policy", ", ".join(f"{k} {v}" for k, v in jsonable(result.policy).items()))])]
    if result.needs is not None:
        n = result.needs
        head.append(Para(f"Needs ~{n.canary_events} more canary {n.unit} ({n.metric})."))
    sections = [Section("", head)]
    if result.not_measured:
        sections.append(Section("Not measured", [Bullets(list(result.not_measured))]))
    sections.append(Section("Money invariants (hard gates)", [Table(
        ["invariant", "verdict", "why", "payments", "queries"],
        [[i.invariant, _status_cell(i.status), i.reason, ", ".join(i.payments) or "—",
          Cell("\n".join(i.queries) or "—", "code")] for i in result.invariants],
        empty="not judged: the judge stopped before the invariants", wide=True)]))
    rows, details, explained = [], [], set()
    for m in result.metrics:
        f, plan = m.figures, m.plan
        quantiles = "quantile" in f  # latency_shift: seconds, against the tolerated shift
        rows.append([m.id, _quantile_cell(f, "canary") if quantiles else _share(m.canary),
                     _quantile_cell(f, "baseline") if quantiles else _share(m.baseline),
                     f"{_num(f.get('effect'), '{:+.4f}')} ({_num(_tolerance(f, plan))})",
                     _num(f.get("p_value"), "{:.3g}"),
                     f"{_num(f.get('z'), '{:.2f}')} / {_num(f.get('boundary'), '{:.2f}')}",
                     _num(f.get("information"), "{:.0%}"), _status_cell(m.status), m.reason])
        if plan is not None and plan.queries and m.metric not in explained:  # one per metric: a provider's test
            explained.add(m.metric)  # reads its sum by provider
            text = "\n".join(f"{arm} {part}: {q}" for arm, pair in plan.queries.items() for part, q in pair.items())
            details.append(Section(m.metric, [Para(f"{plan.description}. Test: {plan.test}."), Para(text, "pre")]))
    sections.append(Section("Metrics", [Table(
        ["test", "canary bad / total", "baseline bad / total", "effect (min)", "p-value", "z / boundary",
         "information", "verdict", "why"], rows, empty="no metric was judged", align="lrrrrrrll", wide=True)]))
    if details:
        sections.append(Section("Resolved PromQL", details))
    latency = plot_latency(result.metrics)
    if latency:
        sections.append(Section("Latency distributions", [Image("both arms' latency distributions", latency, wide=True)],
                                only="html"))
    uri = plot_looks([m.id for m in result.metrics], list(result.history))
    if uri:
        sections.append(Section("Looks so far", [Image("looks so far", uri, wide=True)], only="html"))
    return Document("Canary verdict", sections, verdict=(verdict, verdict == PASS), verdict_in_title=True,
                    escape="table")


def write_html(result: CanaryVerdict, path: Path) -> None:
    write_text(Path(path), document(result).to_html())

