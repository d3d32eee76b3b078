"""The load-test report: result.json, report.md, report.html and PNG plots in one directory.

Everything is written into a hidden sibling directory first (Locust's own files included)
and renamed into place when complete, so `reports/loadtest-<scenario>-<time>/` either is a
whole report or does not exist. Markdown and HTML come from one document
(moneypath._common.report).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from moneypath._common import report as doc
from moneypath._common.atomic import write_json, write_text
from moneypath._common.plots import Series, draw_lines, finish, pyplot, save, utc
from moneypath._common.report import discard, publish, unused_path  # noqa: F401 - the commands' names for them
from moneypath.loadtest.command.counts import TITLE, line, verdict_note
from moneypath.loadtest.command.gates import Gate, feature_skips
from moneypath.loadtest.command.run_types import LoadTestResult
from moneypath.loadtest.command.soak import drift as dr

GATE_MARK = {"pass": "PASS", "fail": "FAIL", "skip": "skip", "not measured": "NOT MEASURED"}
GATE_ROW = {"pass": "pass", "fail": "fail", "not measured": "fail"}  # the HTML row class: not measured is no pass
MS_KEYS = ("avg_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")


def staging_dir(out: Path, prefix: str) -> tuple[Path, Path]:
    """(temporary directory to write into, final directory) for a new report under `out`."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    final = unused_path(out / f"{prefix}-{stamp}")
    return doc.stage(final, ".partial"), final


def keep_failed(tmp: Path, final: Path) -> Path | None:
    """A failed run's staging directory: renamed to <final>-failed when it holds anything (Locust's
    logs), so that what an error message points at still exists; removed when empty."""
    try:
        if not any(tmp.iterdir()):
            discard(tmp)
            return None
        return publish(tmp, unused_path(final.with_name(final.name + "-failed")))
    except OSError:
        return tmp if tmp.exists() else None


def failure_message(exc: Exception, tmp: Path, final: Path) -> str:
    """The one-line error of a failed run, naming where its logs were kept."""
    kept = keep_failed(tmp, final)
    message = str(exc)
    if kept is None:
        return message
    if str(tmp) in message:
        return message.replace(str(tmp), str(kept))
    return f"{message} (logs: {kept})"


def gate_table(gates: Iterable[Gate | Mapping]) -> list[str]:
    """The gate table as plain text lines for the terminal; gates as they are or as result.json has them."""
    rows = [("gate", "source", "result", "observed", "limit")]
    rows += [(gt.title, gt.source, GATE_MARK[gt.status], gt.observed, gt.limit) for gt in map(Gate.read, gates)]
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    lines = ["  ".join(str(v).ljust(widths[i]) for i, v in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _plots(result: dict, ticks, service: dict, directory: Path) -> list[tuple[str, str]]:
    plt = pyplot()
    made = []
    threshold_ms = result.get("p99_threshold_ms")

    fig, ax = plt.subplots(figsize=(9, 3.2))
    pace = result["rate"] / result["users"] if result.get("users") else 0
    unit = result.get("rate_unit") or "requests/s"
    series = [Series(f"offered {unit}", [t.t for t in ticks], [t.users * pace for t in ticks]),
              Series("Locust requests/s (last 10 s)", [t.t for t in ticks], [t.rps for t in ticks]),
              Series("Locust failed requests/s", [t.t for t in ticks], [t.failures_per_s for t in ticks])]
    flowing = [t for t in ticks if getattr(t, "flows_per_s", None) is not None]
    if flowing:
        series.append(Series("Locust flows/s (last 10 s)", [t.t for t in flowing], [t.flows_per_s for t in flowing]))
    if service.get("service authorizations/s"):
        pts = service["service authorizations/s"]
        series.append(Series("service authorizations/s", [t for t, _ in pts], [v for _, v in pts]))
    draw_lines(ax, series)
    finish(ax, "Throughput", "reqps", not ticks)
    save(fig, directory / "throughput.png")
    made.append(("Throughput", "throughput.png"))

    fig, ax = plt.subplots(figsize=(9, 3.2))
    series = [Series(f"Locust p{p}", [t.t for t in ticks if getattr(t, f'p{p}_ms') is not None],
                     [getattr(t, f"p{p}_ms") for t in ticks if getattr(t, f"p{p}_ms") is not None])
              for p in (50, 95, 99)]
    if service.get("service p99 (s)"):
        pts = [(t, v * 1000) for t, v in service["service p99 (s)"] if v == v]
        series.append(Series("service authorization p99", [t for t, _ in pts], [v for _, v in pts]))
    draw_lines(ax, series)
    if threshold_ms and ticks:
        ax.axhline(threshold_ms, color="#E24D42", linestyle="--", linewidth=1)
        ax.text(0.99, threshold_ms, f" SLO {threshold_ms:.0f} ms", transform=ax.get_yaxis_transform(), ha="right",
                va="bottom", fontsize=7, color="#E24D42")
    finish(ax, "Response time (Locust: all requests, last 10 s; service: authorizations)", "ms", not ticks)
    save(fig, directory / "latency.png")
    made.append(("Response time", "latency.png"))

    fig, ax = plt.subplots(figsize=(9, 2.4))
    draw_lines(ax, [Series("users", [t.t for t in ticks], [t.users for t in ticks])])
    finish(ax, "Users", "", not ticks)
    save(fig, directory / "users.png")
    made.append(("Users", "users.png"))
    if result.get("drift"):
        made += _drift_plots(plt, result["drift"], directory)
    return made


DRIFT_PLOT_STEP_S = 30.0  # CPU per authorization over 30 s steps: 5 s samples at a few hundred per second are noisy


def drift_series(d: dict) -> tuple[Series, Series]:
    """(resident memory in MB, CPU ms per authorization over DRIFT_PLOT_STEP_S steps) from a drift's samples; at
    the run's mix, as the gate judges it (drift.py), when the samples count requests."""
    samples = list(d.get("samples", []))
    rss = [(s["t"], s["rss_bytes"] / 1e6) for s in samples if s.get("rss_bytes") is not None]
    mix = d.get("requests_per_authorization")
    per, ratio = ("requests", mix) if mix else ("authorizations", 1.0)
    counted = [s for s in samples if s.get("cpu_s") is not None and s.get(per) is not None]
    per_auth, last = [], None
    for s in counted:
        if last is None:
            last = s
        elif s["t"] - last["t"] >= DRIFT_PLOT_STEP_S:
            n = s[per] - last[per]
            if n > 0:
                per_auth.append((s["t"], (s["cpu_s"] - last["cpu_s"]) / n * ratio * 1000))
            last = s
    return (Series("service resident memory (MB)", [t for t, _ in rss], [v for _, v in rss]),
            Series("service CPU per authorization (ms)", [t for t, _ in per_auth], [v for _, v in per_auth]))


def _drift_plots(plt, d: dict, directory: Path) -> list[tuple[str, str]]:
    made = []
    windows = d.get("windows")
    for series, unit, name, title in zip(drift_series(d), ("suffix: MB", "ms"), ("drift-rss.png", "drift-cpu.png"),
                                         ("Resident memory", "CPU per authorization")):
        fig, ax = plt.subplots(figsize=(9, 2.6))
        draw_lines(ax, [series] if series.times else [])
        if windows and series.times:
            for a, b in (windows["first"], windows["last"]):
                ax.axvspan(utc(a), utc(b), color="#1F78C1", alpha=0.12)
        finish(ax, f"{title} (shaded: the first minute after the warm-up and the last)", unit, not series.times)
        save(fig, directory / name)
        made.append((f"Drift: {title.lower()}", name))
    return made


DRIFT_MARK = {dr.PASS: "PASS", dr.FAIL: "FAIL", dr.NOT_MEASURED: "-", dr.NOT_JUDGED: "-"}
WINDOW_FMT = "%H:%M:%S"


def drift_section(d: dict) -> doc.Section:
    """The soak's drift: each figure in the first minute after the warm-up and the last, its drift and verdict."""
    blocks: list = []
    if d.get("windows") is None:
        blocks.append(doc.Para(f"Drift not judged: {d['reason']}"))
        return doc.Section("Drift", blocks)
    w = d["windows"]

    def span(pair) -> str:
        return " - ".join(time.strftime(WINDOW_FMT, time.gmtime(t)) for t in pair) + " UTC"

    rows, kinds = [], []
    for m in d["metrics"]:
        drift = "-" if m["drift"] is None else f"{m['drift']:+.1%}"
        rows.append([m["title"], dr.fmt(m["first"], m["unit"]), dr.fmt(m["last"], m["unit"]), drift,
                     DRIFT_MARK[m["status"]], m["reason"]])
        kinds.append({dr.PASS: "pass", dr.FAIL: "fail"}.get(m["status"], "skip"))
    blocks += [
        doc.Para(f"From the first minute after the warm-up ({span(w['first'])}) to the last minute ({span(w['last'])}); "
                 f"a figure may grow at most {d['limit']:.0%} (one-sided: one that falls passes). Database bytes "
                 f"per payment is the trend of the file's size against "
                 + ("requests at the run's mix, as CPU per authorization is," if d.get("db_per") == "requests"
                    else "authorizations")
                 + f" over {span(w['db_first'])} "
                 f"and {span(w['db_last'])}: the file grows in chunks, a minute alone would say where a chunk landed."
                 " Resident memory is read at the middle of each minute off the least-squares line through its "
                 "samples between them: where the last minute fell on a plateau's wobble does not decide it (its "
                 "reason gives the minutes' own means when they differ)."
                 + (f" Resident memory's first minute is {span(w['rss_first'])}, after the memory warm-up: the service's "
                    f"bounded in-memory state fills before it (its reason says what was left out)."
                    if w.get("rss_first") and list(w["rss_first"]) != list(w["first"]) else "")),
        doc.Table(["figure", "first minute", "last minute", "drift", "result", "reason"], rows, None,
                  align="lrrrll", row_kinds=kinds)]
    sources = d.get("sources") or {}
    if sources:
        blocks.append(doc.Bullets([(k, v) for k, v in sources.items()]))
    return doc.Section("Drift", blocks)


def overload_section(o: dict) -> doc.Section:
    """The overload phase by phase: what was offered, answered, refused and how fast, then the recovery."""
    def ms(v):
        return "-" if v is None else f"{v:.0f} ms"

    rows = []
    for label, key, window in (("overload", "overload", o["overload_s"]), ("recovery", "recovery", o["recovery_s"])):
        f = o.get(key)
        if f is None:
            rows.append([label, f"{window[0]:.0f}-{window[1]:.0f} s", *["-"] * 6])
            continue
        admitted = f["requests"] - f["refused"]
        rows.append([label, f"{window[0]:.0f}-{window[1]:.0f} s", f"{f['requests'] / max(f['seconds'], 1e-9):.1f}/s",
                     f"{f['goodput_rps']:.1f}/s ({f['goodput_rps'] / o['rate']:.0%})" if o["rate"] else "-",
                     f"{f['refused']} (p99 {ms(f['refused_p99_ms'])})", f"{f['admitted_failed']} of {admitted}",
                     ms(f["authorize_p99_ms"]),
                     ", ".join(f"{k} {v:.1%}" for k, v in (f.get("refused_share") or {}).items()) or "-"])
    after = o.get("recovered_after_s")
    return doc.Section("Overload", [
        doc.Para(f"1x is {o['rate']:g} requests/s (the knee, as --rate set it); goodput is what was answered "
                 f"with success. Every second was within the SLOs again "
                 + ("never, to the end of the run." if after is None else f"{after:.0f} s after the load dropped.")),
        doc.Table(["phase", "window", "sent", "goodput", "refused", "admitted, failed", "authorize p99 (admitted)",
                   "refused share"], rows, None, align="llrrrrrl")])


def generator_section(lg: dict) -> doc.Section:
    """The load generator: a worker lost (which, when, the rate it carried, the stretch not measured), whether it
    was the bottleneck, and each process's CPU (median % of its core over the judged seconds)."""
    blocks: list = [doc.Bullets(lg["lines"])] if lg.get("lines") else [doc.Para(
        "No worker was lost and the load generator was not the bottleneck.")]
    quota = lg.get("cpu_quota") or {}

    def ceiling(name: str) -> str:  # one core, or its cgroup's CPU quota when that is less
        q = quota.get(name)
        return f"{q['cores'] * 100:.3g} % of a core ({q['text']})" if q and q["cores"] < 1 else "one core"

    rows = [[name, f"{cpu:.1f} %", ceiling(name)] for name, cpu in sorted((lg.get("worker_cpu") or {}).items())]
    if lg.get("master_cpu") is not None:
        rows.append(["Locust master", f"{lg['master_cpu']:.1f} %", ceiling("Locust master")])
    if rows:
        blocks.append(doc.Table(["process", "CPU (median, % of a core)", "its ceiling"], rows, None, align="lrl"))
    blocks.append(doc.Para("Second by second: locust/locust_workers.json (the master's clock, seconds into the run).",
                           "note"))
    return doc.Section("Load generator", blocks)


def document(result: dict, plots: list[tuple[str, str]]) -> doc.Document:
    verdict = ("PASSED" if result["passed"] else "NOT MEASURED (no gate failed; a gate had no evidence)"
               if result.get("verdict") == "not measured" else "FAILED")
    if result.get("no_prometheus"):
        verdict += " without Prometheus evidence (--no-prometheus: the service-side gates were not judged)"
    verdict += "".join(f"; skipped: {line}" for line in feature_skips(result["gates"]))
    lg = result.get("load_generator") or {}
    if lg.get("not_measured_s") and lg.get("recovered"):
        verdict += "; a load-generator worker was lost: the rate gates judged without " + ", ".join(
            f"{a:.0f}-{b:.0f} s" for a, b in lg["not_measured_s"])
    elif lg.get("generator_bound"):
        verdict += "; the load generator was the bottleneck"
    verdict += verdict_note(result)
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(result["started_at"]))
    loc = result["locust"]
    facts = [("scenario", f"{result['scenario']}: {result['description']}"), ("target", result["target"]),
             ("started", started), ("duration", f"{result['duration_s']:g} s"),
             ("load", f"{result['rate']:g} {result.get('rate_unit') or 'requests/s'} from {result['users']} users at 1x"
                      + (f", {result['workers']} Locust workers" if result["workers"] else "")),
             ("achieved", (f"{loc['flow_rps']:.2f} flows/s, " if loc.get("flows") is not None else "")
              + f"{loc['rps']:.1f} requests/s, {loc['requests']} requests, {loc['failures']} failed"),
             *flow_facts(loc),
             ("authorization p50 / p95 / p99" if loc.get("flows") is None else
              "authorizing step p50 / p95 / p99 (Locust: the service's whole call)",
              " / ".join("-" if loc[k] is None else f"{loc[k]:.0f} ms"
                         for k in ("authorize_p50_ms", "authorize_p95_ms", "authorize_p99_ms")))]
    obs = result.get("prometheus_observations") or {}
    if obs.get("cost_per_authorization_usd") is not None:
        facts.append(("cost per authorization (service)", f"${obs['cost_per_authorization_usd']:.4f}"))
    if conserved := line(result.get("conservation"), ""):
        facts.append((TITLE, conserved))
    if obs.get("locust_series") is not None:
        facts.append(("Locust series scraped by Prometheus", str(obs["locust_series"])))
    if result.get("baseline"):
        facts.append(("baseline", str(result["baseline"])))

    gates = [Gate.read(gt) for gt in result["gates"]]
    gate_cells = [[gt.title, gt.source, GATE_MARK[gt.status], gt.observed, gt.limit] for gt in gates]
    sections = [doc.Section("", [doc.Bullets(facts)]), doc.Section("Gates", [
        doc.Table(["gate", "source", "result", "observed", "limit"], gate_cells, None, only="md"),
        doc.Table(["gate", "source", "result", "observed", "limit", "reason"],  # the page has room for the reason
                  [[*cells, gt.reason] for cells, gt in zip(gate_cells, gates)], None,
                  row_kinds=[GATE_ROW.get(gt.status, "skip") for gt in gates], only="html")])]
    if loc.get("steps"):
        sections.append(steps_section(loc))
    if result["breaches"]:
        sections.append(doc.Section("Breaches", [doc.Bullets(result["breaches"])], only="md"))
    skipped = [gt for gt in gates if gt.skipped]
    if skipped:
        sections.append(doc.Section("", [doc.Para("Skipped: " + "; ".join(f"{gt.title} ({gt.reason})"
                                                                          for gt in skipped))], only="md"))
    if result.get("drift"):
        sections.append(drift_section(result["drift"]))
    if result.get("overload"):
        sections.append(overload_section(result["overload"]))
    if result.get("load_generator"):
        sections.append(generator_section(result["load_generator"]))
    by_name = [[r["method"], r["name"], str(r["requests"]), str(r["failures"]), f"{r['rps']:.2f}",
                *("-" if r[k] is None else f"{r[k]:.0f}" for k in MS_KEYS)] for r in loc["by_name"]]
    plots_section = doc.Section("Plots", [doc.Gallery([doc.Image(title, name) for title, name in plots])])
    sections += [replace(plots_section, only="html"), doc.Section("Requests by name", [doc.Para(
        NAMES_NOTE, "note"), doc.Table(
        ["type", "name", "requests", "failures", "req/s", "avg", "p50", "p95", "p99", "max"], by_name, None,
        align="llrrrrrrrr")]), replace(plots_section, only="md")]
    locust = [doc.Cell("Locust's own statistics (CSV, JSON) and logs are in "), doc.Cell("locust/", "code")]
    sections.append(doc.Section("", [doc.Para([*locust, doc.Cell(". Times in ms unless stated.")], only="md"),
                                     doc.Para([*locust, doc.Cell(".")], only="html")]))
    return doc.Document(f"Load test {result['scenario']}", sections, verdict=(verdict, result["passed"]),
                        verdict_in_title=True, escape="table")


NAMES_NOTE = ('"[x]" in a name: the service\'s answer named provider x; "[requested x]": the answer named none (a '
              "failure, or an API that does not say), so x is only what the load generator asked for.")


def render(result: LoadTestResult | dict, ticks, service: dict, directory: Path) -> None:
    """Write result.json, report.md, report.html and the plots into `directory`; the pages are made from what
    result.json holds (a judged run's `as_json()`, or such a dict)."""
    if isinstance(result, LoadTestResult):
        result = result.as_json()
    plots = _plots(result, ticks, service, directory)
    write_json(directory / "result.json", result, default=str)
    page = document(result, plots)
    write_text(directory / "report.md", page.to_markdown())
    write_text(directory / "report.html", page.to_html())


def _ms(v) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def flow_facts(loc: dict) -> list[tuple[str, str]]:
    """With flows of several calls: flows per second and their latency, each step's rate and why flows failed."""
    if loc.get("flows") is None:
        return []
    steps = [r for r in loc["by_name"] if r["method"] not in ("FLOW", "CHECK") and "[" in r["name"]]
    facts = [("flows", f"{loc['flow_rps']:.2f}/s, {loc['flows']} flows, {loc['flow_failures']} failed"),
             ("flow p50 / p95 / p99 (first step to last, Locust)",
              " / ".join(_ms(loc.get(k)) for k in ("flow_p50_ms", "flow_p95_ms", "flow_p99_ms"))),
             ("per step", ", ".join(f"{r['name']} {r['rps']:.2f}/s ({r['failures']} failed)" for r in steps))]
    facts += [("flow failed", f"{reason}: {n}x") for reason, n in sorted((loc.get("flow_failure_reasons") or {}).items(),
                                                                         key=lambda kv: -kv[1])]
    return facts


def steps_section(loc: dict) -> doc.Section:
    """Each step of the flows and the whole flow: requests/s, failures and latency on Locust's clock (the
    authorizing step's time is the service's whole call: the service's histogram judges the authorization)."""
    rows = [[r["step"], str(r["requests"]), str(r["failures"]), f"{r['rps']:.2f}",
             *(_ms(r[k]) for k in ("p50_ms", "p95_ms", "p99_ms"))] for r in loc["steps"]]
    return doc.Section("Flow steps", [
        doc.Para(f"Latency {loc.get('latency_judged') or 'whole run'}; FLOW is the whole flow, first step to last."),
        doc.Table(["step", "requests", "failures", "per s", "p50", "p95", "p99"], rows, None, align="lrrrrrr")])
