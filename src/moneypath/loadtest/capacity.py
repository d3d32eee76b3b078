"""`moneypath capacity`: steps of increasing load → the knee → instances, p99 and cost at 1x/10x/100x.

The knee is the highest offered rate whose step met the latency and failure gates and
delivered (almost) what was asked; above it the service queues and the p99 climbs. One
instance carries the knee; a volume needs ceil(volume / (knee x utilization)) instances, so
infrastructure cost grows in steps while provider fees and fraud screening grow per
transaction (the catalog's `cost:` model, as the reference service accrues it in
src/moneypath/reference/refservice/cost.py). Without the cost feature there is no cost model:
the plan is instances and p99 only; without fraud screening there is no fraud share.

`knee`, `project` and `interpolate` are pure; `run_steps` drives Locust through the runner.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from moneypath._common import report as doc
from moneypath._common.atomic import write_json, write_text
from moneypath.catalog import Catalog
from moneypath.loadtest import runner, scenarios

SCENARIO = "checkout"
STEP_GATES = ("p99_latency_locust", "p99_latency_prometheus", "failure_ratio_locust", "failure_ratio_prometheus")
DELIVERED = 0.9  # a step that achieved less than this share of the offered rate is past the knee
SCALES = (1, 10, 100)
MAX_STEPS = 50


class TooManySteps(ValueError):
    """More steps than MAX_STEPS; the message is one line."""


def step_count(start: float, step: float, maximum: float) -> float:
    """How many steps start, start + step, ... up to maximum make (a float: it may be huge)."""
    if maximum < start:
        return 0
    span = (maximum - start) / step
    return math.floor(span + 1e-9) + 1 if math.isfinite(span) else math.inf


def step_rates(start: float, step: float, maximum: float) -> list[float]:
    """The offered rate of each step; TooManySteps beyond MAX_STEPS, counted before any list is built."""
    n = step_count(start, step, maximum)
    if n > MAX_STEPS:
        raise TooManySteps(f"{float(n):g} steps: at most {MAX_STEPS} (raise --step or lower --max)")
    return [round(start + i * step, 6) for i in range(int(n))]


@dataclass
class Step:
    rate: float                  # offered requests per second
    achieved_rps: float
    authorize_rps: float         # authorizations per second (the transactions)
    p99_ms: float | None         # Locust, authorizations
    service_p99_ms: float | None
    failure_ratio: float | None
    cost_per_authorization_usd: float | None
    passed: bool
    reasons: list[str]
    locust_series: int | None = None  # Locust exporter series the Prometheus scraped during the step


def knee(steps: list[Step]) -> Step | None:
    """The last step of the unbroken run of passing steps from the first; None if the first failed."""
    best = None
    for s in sorted(steps, key=lambda s: s.rate):
        if not s.passed:
            break
        best = s
    return best


def interpolate(points: list[tuple[float, float]], x: float) -> float | None:
    """Linear interpolation through (x, y) points sorted by x; clamped to the ends."""
    pts = sorted((px, py) for px, py in points if py is not None)
    if not pts:
        return None
    if x <= pts[0][0]:
        return pts[0][1]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 != x0 else y1
    return pts[-1][1]


@dataclass
class UnitCosts:
    infrastructure_usd_per_instance_hour: float
    fees_usd_per_authorization: float      # provider fees, charged on the captures an authorization leads to
    fraud_usd_per_authorization: float | None = None  # None: the catalog has no fraud screening


def mean_amount_major(c: Catalog, sfile: scenarios.ScenarioFile) -> float:
    """The scenario's mean amount in major units: `amount_minor` is drawn in each currency's own minor
    units, so it is read with that currency's exponent, weighted by the scenario's currency mix."""
    weights = {cur: w for cur, w in sfile.currencies.items() if w > 0}
    total = sum(weights.values())
    return sum(w / total * c.major_units(sfile.amount_minor.mean(), cur) for cur, w in weights.items())


def unit_costs(c: Catalog, sfile: scenarios.ScenarioFile) -> UnitCosts | None:
    """Per-authorization variable cost from the catalog's cost model and the scenario mix: every
    authorization is screened once (when the fraud feature is on); the capture share of them pays
    the provider's fixed fee plus basis points of the mean amount. Amounts are read in major units
    of their own currency (its ISO 4217 exponent, weighted by the scenario's currency mix) and taken
    as USD: there is no FX, the cost model is in USD. None when the cost feature is off."""
    if c.cost is None or not c.enabled("cost"):
        return None
    shares = scenarios.action_shares(sfile)
    capture_per_auth = shares["capture"] / shares["authorize"] if shares["authorize"] else 0.0
    weights = {p: w for p, w in sfile.providers.items() if w > 0}
    total = sum(weights.values())
    mean_usd = mean_amount_major(c, sfile)
    fee = 0.0
    for provider, w in weights.items():
        model = c.cost.provider_fees.get(provider)
        if model is not None:
            fee += w / total * (model.fixed_usd + mean_usd * model.bps / 10_000)
    fraud = c.cost.fraud_screening_usd_per_check if c.enabled("fraud") else None
    return UnitCosts(c.cost.infrastructure_usd_per_hour, fee * capture_per_auth, fraud)


@dataclass
class Projection:
    scale: int
    authorizations_per_s: float
    instances: int
    per_instance_authorizations_per_s: float
    p99_ms: float | None
    # None without a cost model (the cost feature off); fraud also None without fraud screening
    infrastructure_usd_per_authorization: float | None
    fees_usd_per_authorization: float | None
    fraud_usd_per_authorization: float | None
    usd_per_authorization: float | None
    usd_per_month: float | None


def project(current: float, knee_tx: float, utilization: float, costs: UnitCosts | None,
            p99_curve: list[tuple[float, float]], scales=SCALES) -> list[Projection]:
    """Instances, expected p99 and (with a cost model) cost per authorization at each scale of
    `current` authorizations/s, with one instance carrying `knee_tx` x `utilization` authorizations
    per second."""
    if knee_tx <= 0 or current <= 0 or not 0 < utilization <= 1:
        raise ValueError("knee, current volume and utilization must be positive")
    out = []
    for scale in scales:
        volume = current * scale
        instances = max(1, math.ceil(volume / (knee_tx * utilization) - 1e-9))
        per_instance = volume / instances
        p99 = interpolate(p99_curve, per_instance)
        if costs is None:
            out.append(Projection(scale, volume, instances, per_instance, p99, None, None, None, None, None))
            continue
        infra = instances * costs.infrastructure_usd_per_instance_hour / 3600 / volume
        total = infra + costs.fees_usd_per_authorization + (costs.fraud_usd_per_authorization or 0.0)
        out.append(Projection(scale, volume, instances, per_instance, p99, infra, costs.fees_usd_per_authorization,
                              costs.fraud_usd_per_authorization, total, total * volume * 86400 * 30))
    return out


# ---------------------------------------------------------------- driving the steps


def run_steps(c: Catalog, target: runner.Target, rates: list[float], step_s: float, workers: int, locustfile: Path,
              scenario_file: Path | None, work: Path, exporter_port: int, progress=print,
              confirm: bool = True, require_prometheus: bool = True) -> list[Step]:
    """Run the steps in order until one fails; with `confirm`, a failed step is run once more
    and only a second failure ends the climb (one slow outlier is the p99 of a short step)."""
    steps: list[Step] = []
    for i, rate in enumerate(rates, 1):
        progress(f"step {i}/{len(rates)}: {rate:g} requests/s for {step_s:g} s")
        step = _one_step(c, target, rate, step_s, workers, locustfile, scenario_file, work / f"step-{i:02d}-{rate:g}",
                         exporter_port, progress, require_prometheus)
        if not step.passed and confirm:
            progress(f"  again, to confirm: {rate:g} requests/s for {step_s:g} s")
            time.sleep(2)
            step = _one_step(c, target, rate, step_s, workers, locustfile, scenario_file,
                             work / f"step-{i:02d}-{rate:g}-again", exporter_port, progress, require_prometheus)
        steps.append(step)
        if not step.passed:
            break  # past the knee: more load only queues
        time.sleep(2)  # let the service drain before the next step
    return steps


def _one_step(c, target, rate, step_s, workers, locustfile, scenario_file, work, exporter_port, progress,
              require_prometheus: bool = True) -> Step:
    spec = runner.RunSpec(SCENARIO, rate=rate, duration_s=step_s, workers=workers, scenario_file=scenario_file,
                          locustfile=locustfile, only_gates=STEP_GATES, require_prometheus=require_prometheus)
    outcome = runner.run(c, spec, target, work, exporter_port,
                         lambda line: progress("  " + line) if line.startswith("[") else None)
    s = outcome.summary
    reasons = [gt.reason for gt in outcome.gates if gt.status == "fail"]
    delivered = s.rps / rate if rate else 0
    if delivered < DELIVERED:
        reasons.append(f"delivered {s.rps:.1f} of {rate:g} requests/s ({delivered:.0%})")
    prom = outcome.prom
    step = Step(rate, s.rps, s.authorize_rps, s.authorize_p99_ms,
                prom.p99_s * 1000 if prom and prom.p99_s is not None else None, s.failure_ratio,
                prom.cost_per_authorization_usd if prom else None, not reasons, reasons,
                prom.locust_series if prom else None)
    progress(f"  {'ok  ' if step.passed else 'FAIL'} {s.rps:.1f} requests/s, p99 "
             f"{'-' if step.p99_ms is None else f'{step.p99_ms:.0f} ms'}"
             + ("" if step.passed else f": {'; '.join(reasons)}"))
    return step


def plan(c: Catalog, sfile: scenarios.ScenarioFile, steps: list[Step], current: float, utilization: float) -> dict:
    k = knee(steps)
    costs = unit_costs(c, sfile)
    projections = []
    if k is not None and k.authorize_rps > 0:
        curve = [(s.authorize_rps, s.p99_ms) for s in steps if s.passed and s.p99_ms is not None]
        projections = project(current, k.authorize_rps, utilization, costs, curve)
    return {"steps": [asdict(s) for s in steps], "knee": asdict(k) if k else None, "current_authorizations_per_s":
            current, "utilization": utilization, "unit_costs": asdict(costs) if costs is not None else None,
            "projections": [asdict(p) for p in projections], "created_at": time.time()}


# ---------------------------------------------------------------- report


def _usd(v: float | None) -> str:
    if v is None:
        return "-"
    return f"${v:.6f}" if v < 0.01 else f"${v:,.4f}"


def table_lines(result: dict) -> list[str]:
    lines = []
    for s in result["steps"]:
        p99 = "-" if s["p99_ms"] is None else f"{s['p99_ms']:.0f} ms"
        verdict = "ok" if s["passed"] else "FAIL: " + "; ".join(s["reasons"])
        lines.append(f"step {s['rate']:>7g}/s  achieved {s['achieved_rps']:7.1f}/s  authorizations "
                     f"{s['authorize_rps']:6.1f}/s  p99 {p99:>8}  {verdict}")
    k = result["knee"]
    if k is None:
        lines.append("knee: none (the first step already breached)")
        return lines
    lines.append(f"knee: {k['rate']:g} requests/s = {k['authorize_rps']:.1f} authorizations/s per instance "
                 f"(p99 {k['p99_ms']:.0f} ms)" if k["p99_ms"] is not None else f"knee: {k['rate']:g} requests/s")
    if k.get("cost_per_authorization_usd") is not None:
        lines.append(f"cost per authorization the service accrued at the knee: {_usd(k['cost_per_authorization_usd'])} "
                     "(provider fees only on what was captured within the step)")
    costs = result["unit_costs"]
    fraud = costs is not None and costs.get("fraud_usd_per_authorization") is not None
    rows = [("scale", "authorizations/s", "instances", "p99")]
    if costs is not None:
        rows[0] += ("infra/tx", "fees/tx", *(("fraud/tx",) if fraud else ()), "total/tx", "per month")
    for p in result["projections"]:
        row = (f"{p['scale']}x", f"{p['authorizations_per_s']:g}", str(p["instances"]),
               "-" if p["p99_ms"] is None else f"{p['p99_ms']:.0f} ms")
        if costs is not None:
            row += (_usd(p["infrastructure_usd_per_authorization"]), _usd(p["fees_usd_per_authorization"]),
                    *((_usd(p["fraud_usd_per_authorization"]),) if fraud else ()), _usd(p["usd_per_authorization"]),
                    f"${p['usd_per_month']:,.0f}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += ["  ".join(v.rjust(widths[i]) for i, v in enumerate(r)) for r in rows]
    return lines


def _plots(result: dict, directory: Path) -> None:
    from moneypath._common.plots import pyplot, save

    plt = pyplot()
    steps = result["steps"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    rates = [s["rate"] for s in steps]
    ax1.plot(rates, rates, color="#999", linestyle=":", label="offered")
    ax1.plot(rates, [s["achieved_rps"] for s in steps], marker="o", color="#1F78C1", label="achieved requests/s")
    ax1.set_xlabel("offered requests/s")
    ax1.set_ylabel("requests/s")
    ax1b = ax1.twinx()
    ax1b.plot(rates, [s["p99_ms"] if s["p99_ms"] is not None else float("nan") for s in steps], marker="s",
              color="#E24D42", label="p99 authorization (ms)")
    ax1b.set_ylabel("p99 ms")
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
