"""The load-test report: result.json, report.md, report.html and PNG plots in one directory.

Everything is written into a hidden sibling directory first (Locust's own files included)
and renamed into place when complete, so `reports/loadtest-<scenario>-<time>/` either is a
whole report or does not exist.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import time
import uuid
from pathlib import Path

from moneypath._common.plots import Series, draw_lines, finish, pyplot, save

GATE_MARK = {"pass": "PASS", "fail": "FAIL", "skip": "skip"}


def unused_path(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`… whichever does not exist yet."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def staging_dir(out: Path, prefix: str) -> tuple[Path, Path]:
    """(temporary directory to write into, final directory) for a new report under `out`."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    final = unused_path(out / f"{prefix}-{stamp}")
    tmp = out / f".{final.name}.{uuid.uuid4().hex[:8]}.partial"
    tmp.mkdir(parents=True)
    return tmp, final


def publish(tmp: Path, final: Path) -> Path:
    os.rename(tmp, final)
    return final


def discard(tmp: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: Path, data) -> None:
    part = path.with_name(path.name + ".tmp")
    part.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(part, path)


def gate_table(gates: list[dict]) -> list[str]:
    """The gate table as plain text lines for the terminal."""
    rows = [("gate", "source", "result", "observed", "limit")]
    rows += [(gt["title"], gt["source"], GATE_MARK[gt["status"]], gt["observed"], gt["limit"]) for gt in gates]
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
    series = [Series("offered requests/s", [t.t for t in ticks], [t.users * pace for t in ticks]),
              Series("Locust requests/s (last 10 s)", [t.t for t in ticks], [t.rps for t in ticks]),
              Series("Locust failures/s", [t.t for t in ticks], [t.failures_per_s for t in ticks])]
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
    return made


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(result: dict, ticks, service: dict, directory: Path) -> None:
    """Write result.json, report.md, report.html and the plots into `directory`."""
    plots = _plots(result, ticks, service, directory)
    write_json(directory / "result.json", result)
    verdict = "PASSED" if result["passed"] else "FAILED"
    if result.get("no_prometheus"):
        verdict += " without Prometheus evidence (--no-prometheus: the service-side gates were not judged)"
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(result["started_at"]))
    loc = result["locust"]
    facts = [("scenario", f"{result['scenario']}: {result['description']}"), ("target", result["target"]),
             ("started", started), ("duration", f"{result['duration_s']:g} s"),
             ("load", f"{result['rate']:g} requests/s from {result['users']} users at 1x"
                      + (f", {result['workers']} Locust workers" if result["workers"] else "")),
             ("achieved", f"{loc['rps']:.1f} requests/s, {loc['requests']} requests, {loc['failures']} failed"),
             ("authorization p50 / p95 / p99",
              " / ".join("-" if loc[k] is None else f"{loc[k]:.0f} ms"
                         for k in ("authorize_p50_ms", "authorize_p95_ms", "authorize_p99_ms")))]
    obs = result.get("prometheus_observations") or {}
    if obs.get("cost_per_authorization_usd") is not None:
        facts.append(("cost per authorization (service)", f"${obs['cost_per_authorization_usd']:.4f}"))
    if obs.get("locust_series") is not None:
        facts.append(("Locust series scraped by Prometheus", str(obs["locust_series"])))
    if result.get("baseline"):
        facts.append(("baseline", result["baseline"]))

    md = [f"# Load test {result['scenario']}: {verdict}", ""]
    md += [f"- **{k}**: {_md_escape(v)}" for k, v in facts]
    md += ["", "## Gates", "", "| gate | source | result | observed | limit |", "|---|---|---|---|---|"]
    md += [f"| {_md_escape(gt['title'])} | {gt['source']} | {GATE_MARK[gt['status']]} | {_md_escape(gt['observed'])} "
           f"| {_md_escape(gt['limit'])} |" for gt in result["gates"]]
    if result["breaches"]:
        md += ["", "## Breaches", ""] + [f"- {_md_escape(b)}" for b in result["breaches"]]
    skipped = [gt for gt in result["gates"] if gt["status"] == "skip"]
    if skipped:
        md += ["", "Skipped: " + "; ".join(f"{gt['title']} ({gt['reason']})" for gt in skipped)]
    md += ["", "## Requests by name", "", "| type | name | requests | failures | req/s | avg | p50 | p95 | p99 | max |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in loc["by_name"]:
        cells = [r["method"], _md_escape(r["name"]), str(r["requests"]), str(r["failures"]), f"{r['rps']:.2f}",
                 *("-" if r[k] is None else f"{r[k]:.0f}" for k in ("avg_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"))]
        md.append("| " + " | ".join(cells) + " |")
    md += ["", "## Plots", ""] + [f"![{title}]({name})" for title, name in plots]
    md += ["", "Locust's own statistics (CSV, JSON) and logs are in `locust/`. Times in ms unless stated.", ""]
    (directory / "report.md").write_text("\n".join(md))

    e = html.escape
    rows = "".join(f"<tr class='{gt['status']}'><td>{e(gt['title'])}</td><td>{e(gt['source'])}</td>"
                   f"<td>{GATE_MARK[gt['status']]}</td><td>{e(gt['observed'])}</td><td>{e(gt['limit'])}</td>"
                   f"<td>{e(gt['reason'])}</td></tr>" for gt in result["gates"])
    names = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in (
        r["method"], r["name"], r["requests"], r["failures"], f"{r['rps']:.2f}",
        *("-" if r[k] is None else f"{r[k]:.0f}" for k in ("avg_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms")))) + "</tr>"
        for r in loc["by_name"])
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Load test {e(result['scenario'])}: {verdict}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}} tr.fail{{background:#fdd}} tr.pass{{background:#efe}}
tr.skip{{color:#888}} h1 .v{{color:{'#2a2' if result['passed'] else '#c22'}}}</style></head><body>
<h1>Load test {e(result['scenario'])}: <span class="v">{verdict}</span></h1>
<ul>{''.join(f'<li><b>{e(k)}</b>: {e(str(v))}</li>' for k, v in facts)}</ul>
<h2>Gates</h2><table><tr><th>gate</th><th>source</th><th>result</th><th>observed</th><th>limit</th><th>reason</th></tr>
{rows}</table>
<h2>Plots</h2>{''.join(f'<p><img src="{e(name)}" alt="{e(title)}"></p>' for title, name in plots)}
<h2>Requests by name</h2><table><tr><th>type</th><th>name</th><th>requests</th><th>failures</th><th>req/s</th>
<th>avg</th><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr>{names}</table>
<p>Locust's own statistics (CSV, JSON) and logs are in <code>locust/</code>.</p></body></html>
"""
    (directory / "report.html").write_text(page)
