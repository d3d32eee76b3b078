"""`moneypath capacity`, the report: the plan as text lines (the terminal and Markdown), plots
(steps with the knee and saturation, the USL fit, cost or instances by volume), HTML and JSON.
"""

from __future__ import annotations

from pathlib import Path

from moneypath._common import report as doc
from moneypath._common.atomic import write_json, write_text
from moneypath.loadtest import usl
from moneypath.loadtest.capacity import UnitCosts, project


def _usd(v: float | None) -> str:
    if v is None:
        return "-"
    return f"${v:.6f}" if v < 0.01 else f"${v:,.4f}"


def _projection_rows(projections: list[dict], costs: dict | None) -> list[str]:
    fraud = costs is not None and costs.get("fraud_usd_per_authorization") is not None
    rows = [("scale", "authorizations/s", "instances", "p99")]
    if costs is not None:
        rows[0] += ("infra/tx", "fees/tx", *(("fraud/tx",) if fraud else ()), "total/tx", "per month")
    notes = []
    for p in projections:
        instances = str(p["instances"]) + ("" if p.get("feasible", True) else "*")
        row = (f"{p['scale']}x", f"{p['authorizations_per_s']:g}", instances,
               "-" if p["p99_ms"] is None else f"{p['p99_ms']:.0f} ms")
        if costs is not None:
            row += (_usd(p["infrastructure_usd_per_authorization"]), _usd(p["fees_usd_per_authorization"]),
                    *((_usd(p["fraud_usd_per_authorization"]),) if fraud else ()), _usd(p["usd_per_authorization"]),
                    f"${p['usd_per_month']:,.0f}")
        rows.append(row)
        if p.get("note"):
            notes.append(f"  * {p['scale']}x: {p['note']}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(v.rjust(widths[i]) for i, v in enumerate(r)) for r in rows] + sorted(set(notes), key=notes.index)


def _step_line(s: dict) -> str:
    p99 = "-" if s["p99_ms"] is None else f"{s['p99_ms']:.0f} ms"
    verdict = "ok" if s["passed"] else "FAIL: " + "; ".join(s["reasons"])
    busiest = f"  [{s['limit_reason']}]" if s.get("limit_reason") else ""
    return (f"step {s['rate']:>7g}/s  achieved {s['achieved_rps']:7.1f}/s  authorizations "
            f"{s['authorize_rps']:6.1f}/s  p99 {p99:>8}  {verdict}{busiest}")


def table_lines(result: dict) -> list[str]:
    lines = []
    sat = result.get("saturation")
    if sat:
        lines.append(f"saturation (closed loop, {sat['users']} users): {sat['achieved_rps']:.1f} requests/s = "
                     f"{sat['authorize_rps']:.1f} authorizations/s; limit: {sat['limit_reason']}")
    lines += [_step_line(s) for s in result["steps"]]
    k = result["knee"]
    if k is None:
        lines.append("knee: none (the first step already breached)")
        return lines
    lines.append(f"knee: {k['rate']:g} requests/s = {k['authorize_rps']:.1f} authorizations/s per instance "
                 f"(p99 {k['p99_ms']:.0f} ms)" if k["p99_ms"] is not None else f"knee: {k['rate']:g} requests/s")
    if result.get("knee_share_of_saturation") is not None:
        lines.append(f"the knee carries {result['knee_share_of_saturation']:.0%} of the saturation throughput")
    fit = (result.get("usl") or {}).get("fit")
    if fit:
        peak = (f"peak {fit['peak_throughput']:.1f} authorizations/s at {fit['peak_concurrency']:.0f} in flight"
                if fit["peak_concurrency"] else
                f"no peak, levels off at {fit['peak_throughput']:.1f}/s" if fit["peak_throughput"] else "no limit seen")
        lines.append(f"Universal Scalability Law: lambda {fit['lam']:.1f}/s, contention sigma {fit['sigma']:.3f}, "
                     f"coherency kappa {fit['kappa']:.5f} (R² {fit['r2']:.2f}): {peak}")
    elif result.get("usl", {}).get("error"):
        lines.append(f"Universal Scalability Law: not fitted ({result['usl']['error']})")
    if k.get("cost_per_authorization_usd") is not None:
        lines.append(f"cost per authorization the service accrued at the knee: {_usd(k['cost_per_authorization_usd'])} "
                     "(provider fees only on what was captured within the step)")
    lines.append(f"database: {result.get('database', 'unknown')} ({result.get('database_assumption', '')})")
    lines += _projection_rows(result["projections"], result["unit_costs"])
    cmp_ = result.get("compare")
    if cmp_:
        lines.append(f"beside it: {cmp_['database']}, {cmp_['workers']} service processes ({cmp_['assumption']})")
        lines.append(f"  saturation 1 process {cmp_['one']['authorize_rps']:.1f} authorizations/s "
                     f"[{cmp_['one']['limit_reason']}]; {cmp_['workers']} processes "
                     f"{cmp_['many']['authorize_rps']:.1f}/s [{cmp_['many']['limit_reason']}]")
        lines += ["  " + _step_line(s) for s in cmp_["steps"]]
        if cmp_["knee"] is None:
            lines.append("  knee: none (the first step already breached)")
        else:
            lines.append(f"  knee: {cmp_['knee']['rate']:g} requests/s = {cmp_['knee']['authorize_rps']:.1f} "
                         f"authorizations/s with {cmp_['workers']} processes; contention between processes sigma "
                         f"{cmp_['contention']:.3f}; one process plans at {cmp_['per_process_authorizations_per_s']:.1f}/s")
            lines += ["  " + line for line in _projection_rows(cmp_["projections"], result["unit_costs"])]
    return lines


def _usl_panel(ax, result: dict) -> None:
    """Authorizations/s against requests in flight: the steps, the saturation probe and the fitted USL."""
    u = result.get("usl") or {}
    steps = [s for s in result["steps"] if s.get("concurrency")]
    ax.plot([s["concurrency"] for s in steps], [s["authorize_rps"] for s in steps], "o", color="#1F78C1",
            label="open-loop steps")
    sat = result.get("saturation")
    if sat and sat.get("concurrency"):
        ax.plot([sat["concurrency"]], [sat["authorize_rps"]], "D", color="#BA43A9", label="saturation (closed loop)")
    fit = u.get("fit")
    if fit:
        model = usl.Usl(fit["lam"], fit["sigma"], fit["kappa"], fit["r2"])
        top = max([p[0] for p in u["points"]] + [fit["peak_concurrency"] or 0]) * 1.5
        xs = [1 + i * (top - 1) / 200 for i in range(201)]
        ax.plot(xs, [model.throughput(x) for x in xs], color="#E24D42",
                label=f"USL σ={fit['sigma']:.3f} κ={fit['kappa']:.4f}")
        if fit["peak_concurrency"]:
            ax.axvline(fit["peak_concurrency"], color="#E24D42", linestyle=":", linewidth=1)
    elif u.get("error"):
        ax.text(0.5, 0.5, "USL not fitted:\n" + u["error"], ha="center", va="center", transform=ax.transAxes,
                color="grey", fontsize=7)
    ax.set_xlabel("requests in flight (Little's law)")
    ax.set_ylabel("authorizations/s")
    ax.set_title("Universal Scalability Law fit", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)


def _plots(result: dict, directory: Path) -> None:
    from moneypath._common.plots import pyplot, save

    plt = pyplot()
    steps = result["steps"]
    fig, (ax1, ax3, ax2) = plt.subplots(1, 3, figsize=(16, 3.8))
    rates = [s["rate"] for s in steps]
    _usl_panel(ax3, result)
    ax1.plot(rates, rates, color="#999", linestyle=":", label="offered")
    ax1.plot(rates, [s["achieved_rps"] for s in steps], marker="o", color="#1F78C1", label="achieved requests/s")
    ax1.set_xlabel("offered requests/s")
    ax1.set_ylabel("requests/s")
    ax1b = ax1.twinx()
    ax1b.plot(rates, [s["p99_ms"] if s["p99_ms"] is not None else float("nan") for s in steps], marker="s",
              color="#E24D42", label="p99 authorization (ms)")
    ax1b.set_ylabel("p99 ms")
    if result.get("saturation"):
        ax1.axhline(result["saturation"]["achieved_rps"], color="#BA43A9", linestyle="-.", linewidth=1)
        ax1.text(min(rates or [0]), result["saturation"]["achieved_rps"], " saturation (closed loop)", color="#BA43A9",
                 fontsize=7, va="bottom")
    if result["knee"]:
        ax1.axvline(result["knee"]["rate"], color="#7EB26D", linestyle="--")
        ax1.text(result["knee"]["rate"], ax1.get_ylim()[1] * 0.95, " knee", color="#7EB26D", fontsize=8)
    ax1.set_title("Steps: throughput and p99", fontsize=10)
    ax1.legend(loc="upper left", fontsize=7)
    ax1b.legend(loc="lower right", fontsize=7)
    ax1.grid(alpha=0.3)
    projections = result["projections"]
    costs = result["unit_costs"]
    if projections and costs is None:  # no cost model: instances by volume
        k = result["knee"]["authorize_rps"]
        current = result["current_authorizations_per_s"]
        xs = [current * 10 ** (i / 50) for i in range(-25, 126)]
        curve = project(current, k, result["utilization"], None, [], scales=[x / current for x in xs])
        ax2.step(xs, [p.instances for p in curve], where="post", color="#1F78C1", label="instances")
        for p in projections:
            ax2.plot([p["authorizations_per_s"]], [p["instances"]], marker="o", color="#E24D42")
            ax2.annotate(f"{p['scale']}x: {p['instances']} inst.", (p["authorizations_per_s"], p["instances"]),
                         fontsize=7, textcoords="offset points", xytext=(4, 8))
        ax2.set_xscale("log")
        ax2.set_xlabel("authorizations/s")
        ax2.set_title("Instances by volume (no cost model)", fontsize=10)
    elif projections:
        k = result["knee"]["authorize_rps"]
        current = result["current_authorizations_per_s"]
        xs = [current * 10 ** (i / 50) for i in range(-25, 126)]
        curve = project(current, k, result["utilization"], UnitCosts(**costs), [], scales=[x / current for x in xs])
        ax2.plot(xs, [p.usd_per_authorization for p in curve], color="#1F78C1", label="total per authorization")
        ax2.plot(xs, [p.infrastructure_usd_per_authorization for p in curve], color="#EAB839",
                 label="infrastructure per authorization")
        for p in projections:
            ax2.plot([p["authorizations_per_s"]], [p["infrastructure_usd_per_authorization"]], marker="o",
                     color="#E24D42")
            ax2.annotate(f"{p['scale']}x: {p['instances']} inst.\ninfra {_usd(p['infrastructure_usd_per_authorization'])}"
                         f"\ntotal {_usd(p['usd_per_authorization'])}",
                         (p["authorizations_per_s"], p["infrastructure_usd_per_authorization"]), fontsize=7,
                         textcoords="offset points", xytext=(4, 8))
        ax2.set_xscale("log")
        ax2.set_yscale("log")
        low = min(pt.infrastructure_usd_per_authorization for pt in curve)
        ax2.set_ylim(low / 3, max(pt.usd_per_authorization for pt in curve) * 3)
        ax2.set_xlabel("authorizations/s")
        ax2.legend(fontsize=7, loc="center right")
        ax2.set_title("Cost per authorization by volume", fontsize=10)
    else:
        ax2.text(0.5, 0.5, "no knee, no projection", ha="center", va="center", transform=ax2.transAxes, color="grey")
        ax2.set_title("Cost per authorization by volume" if costs is not None else "Instances by volume", fontsize=10)
    ax2.grid(alpha=0.3, which="both")
    save(fig, directory / "capacity.png")


def document(result: dict) -> doc.Document:
    costs = result["unit_costs"]
    intro = (f"Current volume: {result['current_authorizations_per_s']:g} authorizations/s; instances planned at "
             f"{result['utilization']:.0%} of the knee.")
    if costs is not None:
        fraud = costs.get("fraud_usd_per_authorization")
        intro += (f" Cost model from the catalog: ${costs['infrastructure_usd_per_instance_hour']:g} per "
                  f"instance-hour, provider fees {_usd(costs['fees_usd_per_authorization'])}"
                  + (f" and fraud screening {_usd(fraud)}" if fraud is not None else "")
                  + " per authorization (amounts in major units of their currency, taken as USD: no FX).")
    return doc.Document("Capacity and cost plan", [doc.Section("", [
        doc.Para(intro), doc.Para("\n".join(table_lines(result)), "pre"), doc.Image("capacity", "capacity.png")])],
        escape="table")


def render(result: dict, directory: Path) -> None:
    _plots(result, directory)
    write_json(directory / "capacity.json", result, default=str)
    page = document(result)
    write_text(directory / "capacity.md", page.to_markdown())
    write_text(directory / "capacity.html", page.to_html())
