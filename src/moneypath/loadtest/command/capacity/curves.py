"""`moneypath capacity`, the curves: one figure per question, each drawn at the page's full width.

Throughput by offered rate (achieved, goodput and refusals, with the knee, the closed-loop saturation
and the steps offered past it marked), p99 by offered rate, the Universal Scalability Law fit, and
cost (or instances) by volume. They read the result dicts, older ones without goodput or refusals too.
The rates are named by what they count (plan.rate_unit_of): flows/s for a request template's flow.
"""

from __future__ import annotations

import math
from pathlib import Path

from moneypath._common.plots import pyplot, save
from moneypath.loadtest.command.capacity import usl
from moneypath.loadtest.command.capacity.plan import UnitCosts, per, project, rate_unit_of
from moneypath.loadtest.command.launch import REQUESTS_PER_S

# 1100 px at DPI: the page's width, so the browser draws the text at the size set here
FIGSIZE, SHORT, DPI = (11, 5.2), (11, 3.6), 100
STYLE = {"font.size": 11, "axes.titlesize": 13, "axes.labelsize": 11, "legend.fontsize": 10,
         "xtick.labelsize": 10, "ytick.labelsize": 10}
BLUE, GREEN, RED, ORANGE, PURPLE, GREY = "#1F78C1", "#37872D", "#E24D42", "#EF843C", "#BA43A9", "#999999"

THROUGHPUT = ("Throughput, goodput and refusals by offered rate", "capacity.png")
P99 = ("p99 authorization latency by offered rate", "capacity-p99.png")
USL = ("Universal Scalability Law fit", "capacity-usl.png")


def volume_plot(result: dict) -> tuple[str, str]:
    title = "Cost per authorization by volume" if result["unit_costs"] else "Instances by volume (no cost model)"
    return title, "capacity-cost.png"


def plots(result: dict) -> list[tuple[str, str]]:
    """(title, file name) of every figure `render` writes, in page order."""
    return [(title, name) for title, name, _, _ in _figures(result)]


def _empty(ax, text: str) -> None:
    """Nothing to draw: the reason, without axes whose ticks would mean nothing."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def _nan(v: float | None) -> float:
    return math.nan if v is None else v


def _throughput(ax, result: dict) -> None:
    unit = rate_unit_of(result)
    flows = unit != REQUESTS_PER_S
    steps = sorted(result["steps"], key=lambda s: s["rate"])
    rates = [s["rate"] for s in steps]
    sat = result.get("saturation")
    if sat and rates and max(rates) > sat["achieved_rps"]:
        ax.axvspan(sat["achieved_rps"], max(rates) * 1.03, color=RED, alpha=0.08, label="offered above saturation")
    ax.plot(rates, rates, color=GREY, linestyle=":", label="offered")
    ax.plot(rates, [s["achieved_rps"] for s in steps], marker="o", color=BLUE, linewidth=2, label=f"achieved {unit}")
    measured = [s for s in steps if s.get("goodput_rps") is not None]
    if measured:
        ax.plot([s["rate"] for s in measured], [s["goodput_rps"] for s in measured], marker="^", color=GREEN,
                linewidth=2, label="goodput (successful flows/s)" if flows else "goodput (successful responses/s)")
        ax.plot([s["rate"] for s in measured], [s.get("refused_rps", 0.0) for s in measured], marker="v",
                color=ORANGE, linestyle="--", label="refused requests (503/429)/s" if flows else "refused (503/429)/s")
    failed = [s for s in steps if not s["passed"]]
    ax.plot([s["rate"] for s in failed], [s["achieved_rps"] for s in failed], "x", color=RED, markersize=11,
            markeredgewidth=2.5, label="failed step")
    top = max([*rates, *(s["achieved_rps"] for s in steps), sat["achieved_rps"] if sat else 0, 1]) * 1.18
    ax.set_ylim(0, top)
    ax.set_xlim(0, max(rates or [1]) * 1.03)
    if sat:
        ax.axhline(sat["achieved_rps"], color=PURPLE, linestyle="-.", linewidth=1.5)
        ax.text(ax.get_xlim()[0] + top * 0.01, sat["achieved_rps"], f" saturation (closed loop) "
                f"{sat['achieved_rps']:.1f} {unit}", color=PURPLE, va="bottom")
        past = [s for s in measured if s["rate"] > sat["achieved_rps"]]
        if past and sat["achieved_rps"]:
            s = past[-1]
            ax.annotate(f"goodput past saturation: {s['goodput_rps']:.1f}{per(unit)}\n"
                        f"= {s['goodput_rps'] / sat['achieved_rps']:.0%} of saturation at {s['rate']:g} offered",
                        (s["rate"], s["goodput_rps"]), xytext=(-12, -46), textcoords="offset points", ha="right",
                        color=GREEN, fontweight="bold", arrowprops={"arrowstyle": "->", "color": GREEN})
    k = result["knee"]
    if k:
        ax.axvline(k["rate"], color=GREEN, linestyle="--", linewidth=1.5)
        right_half = k["rate"] > ax.get_xlim()[1] / 2  # the label on the side with room: away from the failures
        ax.text(k["rate"], top * 0.97, f" knee {k['rate']:g} {unit} \n = {k['authorize_rps']:.1f} authorizations/s ",
                color=GREEN, va="top", ha="right" if right_half else "left", fontweight="bold")
    ax.set_xlabel(f"offered {unit}")
    ax.set_ylabel(unit)
    # below the axes: inside, it would cover the knee's label or the steps past saturation
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, frameon=False)


def _p99(ax, result: dict) -> None:
    unit = rate_unit_of(result)
    steps = sorted(result["steps"], key=lambda s: s["rate"])
    rates = [s["rate"] for s in steps]
    ax.plot(rates, [_nan(s["p99_ms"]) for s in steps], marker="o", color=RED, linewidth=2,
            label="p99 authorization, client (ms)")
    ax.plot(rates, [_nan(s.get("service_p99_ms")) for s in steps], marker="s", color=GREY,
            label="p99 authorization, service (ms)")
    values = [v for s in steps for v in (s["p99_ms"], s.get("service_p99_ms")) if v]
    if values and max(values) / min(values) > 20:
        ax.set_yscale("log")
    k = result["knee"]
    if k:
        ax.axvline(k["rate"], color=GREEN, linestyle="--", linewidth=1.5, label=f"knee {k['rate']:g} {unit}")
    ax.set_xlabel(f"offered {unit}")
    ax.set_ylabel("ms")
    ax.legend(loc="upper left")


def _usl(ax, result: dict) -> None:
    """Authorizations/s against requests in flight: the steps, the saturation probe and the fitted USL."""
    u = result.get("usl") or {}
    steps = [s for s in result["steps"] if s.get("concurrency")]
    ax.plot([s["concurrency"] for s in steps], [s["authorize_rps"] for s in steps], "o", color=BLUE,
            label="open-loop steps")
    sat = result.get("saturation")
    if sat and sat.get("concurrency"):
        ax.plot([sat["concurrency"]], [sat["authorize_rps"]], "D", color=PURPLE, label="saturation (closed loop)")
    fit = u.get("fit")
    if fit:
        model = usl.Usl(fit["lam"], fit["sigma"], fit["kappa"], fit["r2"])
        top = max([p[0] for p in u["points"]] + [fit["peak_concurrency"] or 0]) * 1.5
        xs = [1 + i * (top - 1) / 200 for i in range(201)]
        ax.plot(xs, [model.throughput(x) for x in xs], color=RED,
                label=f"USL σ={fit['sigma']:.3f} κ={fit['kappa']:.4f} (R² {fit['r2']:.2f})")
        if fit["peak_concurrency"]:
            ax.axvline(fit["peak_concurrency"], color=RED, linestyle=":", linewidth=1)
    else:
        why = "USL not fitted" + (f":\n{u['error']}" if u.get("error") else "")
        if not steps:
            return _empty(ax, why)
        ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xlabel("requests in flight (Little's law)")
    ax.set_ylabel("authorizations/s")
    ax.legend(loc="lower right")


def _instances(p: dict) -> str:
    return f"{p['scale']}x: {p['instances']} instance{'s' if p['instances'] != 1 else ''}"


def _volume(ax, result: dict) -> None:
    projections, costs = result["projections"], result["unit_costs"]
    if not projections:
        return _empty(ax, "no knee, no projection")
    k, current = result["knee"]["authorize_rps"], result["current_authorizations_per_s"]
    xs = [current * 10 ** (i / 50) for i in range(-25, 126)]
    curve = project(current, k, result["utilization"], UnitCosts(**costs) if costs else None, [],
                    scales=[x / current for x in xs])
    ax.set_xscale("log")
    ax.set_xlabel("authorizations/s")
    if costs is None:
        ax.step(xs, [p.instances for p in curve], where="post", color=BLUE, label="instances")
        for p in projections:
            ax.plot([p["authorizations_per_s"]], [p["instances"]], marker="o", color=RED)
            ax.annotate(_instances(p), (p["authorizations_per_s"], p["instances"]),
                        textcoords="offset points", xytext=(6, 8))
        ax.set_ylabel("instances")
        return
    ax.plot(xs, [p.usd_per_authorization for p in curve], color=BLUE, linewidth=2, label="total per authorization")
    ax.plot(xs, [p.infrastructure_usd_per_authorization for p in curve], color="#EAB839",
            label="infrastructure per authorization")
    for p in projections:
        ax.plot([p["authorizations_per_s"]], [p["infrastructure_usd_per_authorization"]], marker="o", color=RED)
        ax.annotate(_instances(p), (p["authorizations_per_s"],
                    p["infrastructure_usd_per_authorization"]), textcoords="offset points", xytext=(6, 8))
    ax.set_yscale("log")
    low = min(pt.infrastructure_usd_per_authorization for pt in curve)
    ax.set_ylim(low / 3, max(pt.usd_per_authorization for pt in curve) * 3)
    ax.yaxis.set_major_formatter(lambda v, _: f"${v:.6f}".rstrip("0") if v < 0.01 else f"${v:,.2f}")
    ax.set_ylabel("USD per authorization")
    ax.legend(loc="center right")


def _figures(result: dict) -> list:
    return [(*THROUGHPUT, _throughput, FIGSIZE), (*P99, _p99, SHORT), (*USL, _usl, SHORT),
            (*volume_plot(result), _volume, SHORT)]


def render(result: dict, directory: Path) -> None:
    plt = pyplot()
    with plt.rc_context(STYLE):
        for title, name, draw, size in _figures(result):
            fig, ax = plt.subplots(figsize=size)
            draw(ax, result)
            ax.set_title(title)
            ax.grid(alpha=0.3, which="both")
            save(fig, directory / name, dpi=DPI)
