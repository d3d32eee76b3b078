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
from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import Key
from moneypath.loadtest import resources, runner, scenarios, usl
from moneypath.stack import local as stack

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
    closed_loop: bool = False         # the saturation probe: users back to back, `rate` is what they achieved
    users: int | None = None
    concurrency: float | None = None  # mean requests in flight (Little's law): the USL's N
    usage: dict | None = None         # resources.Usage.to_dict(): CPU per part, the database write lock
    limit: str | None = None          # the resource at its ceiling (resources.LABELS key), None: none was
    limit_reason: str | None = None


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
    database: str = "unknown"
    feasible: bool = True
    note: str | None = None


# What a multi-instance projection assumes of each database.
DATABASES = {
    "sqlite": "one SQLite file: one writer at a time for every process; more instances add no write capacity",
    "postgresql": "one PostgreSQL server shared by the instances; their contention measured with 1 and N workers",
    "unknown": "the database is assumed to scale with the instances (not measured)",
}


def project(current: float, knee_tx: float, utilization: float, costs: UnitCosts | None,
            p99_curve: list[tuple[float, float]], scales=SCALES, database: str = "unknown",
            contention: float | None = None) -> list[Projection]:
    """Instances, expected p99 and (with a cost model) cost per authorization at each scale of
    `current` authorizations/s, with one instance carrying `knee_tx` x `utilization` authorizations
    per second. With `contention` (the USL's sigma between instances sharing the database), n instances
    carry n x knee / (1 + contention (n - 1)), not n x knee. On SQLite a plan past one instance is not
    feasible: the file has one writer."""
    if knee_tx <= 0 or current <= 0 or not 0 < utilization <= 1:
        raise ValueError("knee, current volume and utilization must be positive")
    out = []
    for scale in scales:
        volume = current * scale
        feasible, note = True, None
        linear = max(1, math.ceil(volume / (knee_tx * utilization) - 1e-9))
        if contention is None:
            instances = linear
        else:
            found = usl.instances_for(volume, knee_tx, contention, utilization)
            instances = found if found is not None else linear
            if found is None:
                feasible = False
                note = (f"out of reach: with contention {contention:.2f} instances add at most "
                        f"{knee_tx / contention if contention else math.inf:.0f} authorizations/s in all")
        if database == "sqlite" and instances > 1:
            feasible, note = False, "needs more than one SQLite writer: a database server (PostgreSQL) first"
        per_instance = volume / instances
        p99 = interpolate(p99_curve, per_instance)
        if costs is None:
            out.append(Projection(scale, volume, instances, per_instance, p99, None, None, None, None, None,
                                  database, feasible, note))
            continue
        infra = instances * costs.infrastructure_usd_per_instance_hour / 3600 / volume
        total = infra + costs.fees_usd_per_authorization + (costs.fraud_usd_per_authorization or 0.0)
        out.append(Projection(scale, volume, instances, per_instance, p99, infra, costs.fees_usd_per_authorization,
                              costs.fraud_usd_per_authorization, total, total * volume * 86400 * 30, database,
                              feasible, note))
    return out


# ---------------------------------------------------------------- driving the steps

SATURATION_USERS = 32   # closed-loop users of the first saturation probe; doubled while nothing is saturated
SATURATION_PROBES = 3
SATURATION_GAIN = 1.05  # doubling the users must add at least 5 % throughput to be worth another probe
EXTEND = 4              # steps added, 10 % apart, when every planned step held
FRACTIONS = (0.4, 0.6, 0.75, 0.85, 0.95, 1.05)  # automatic steps, as shares of the saturation throughput
REFINE_GAP = 0.10       # bisect between the knee and the first failure while they are further apart than this
MAX_REFINE = 2


def auto_rates(saturation_rps: float) -> list[float]:
    """Open-loop steps around the closed-loop saturation throughput, so the knee is found near it."""
    return [round(saturation_rps * f, 1) for f in FRACTIONS if saturation_rps * f > 0]


def refine_rate(steps: list[Step]) -> float | None:
    """The midpoint between the knee and the next (failed) step when they are more than REFINE_GAP apart."""
    k = knee(steps)
    if k is None:
        return None
    above = [s.rate for s in steps if s.rate > k.rate and not s.passed]
    if not above:
        return None
    nxt = min(above)
    if (nxt - k.rate) / k.rate <= REFINE_GAP:
        return None
    return round((k.rate + nxt) / 2, 1)


def meter_for(target: runner.Target, service_pids: list[int] = ()) -> resources.CpuMeter:
    """CPU of the stack's own processes when the target is a stack on this machine, and of `service_pids`
    (a service of your own running here); Locust's processes are added per step."""
    parts: dict[str, list[int]] = {}
    if target.state_dir is not None:
        state = stack.load_state(target.state_dir.resolve())
        if state is not None:
            parts = {p.name if p.name != "refservice" else "service": [p.pid]
                     for p in state.parts if p.name in ("refservice", "providersim", "prometheus")}
    if service_pids:
        parts["service"] = list(service_pids)
    return resources.CpuMeter(parts)


class Climb:
    """Runs the steps of one setup (a target and its database), with progress and time left."""

    def __init__(self, c: Catalog, target: runner.Target, step_s: float, workers: int, locustfile: Path,
                 scenario_file: Path | None, work: Path, exporter_port: int, progress=print,
                 require_prometheus: bool = True, service_pids: list[int] = (), single_writer: bool = False):
        self.c, self.target, self.step_s, self.workers = c, target, step_s, workers
        self.service_pids, self.single_writer = list(service_pids), single_writer
        self.locustfile, self.scenario_file, self.work, self.exporter_port = locustfile, scenario_file, work, exporter_port
        self.progress, self.require_prometheus = progress, require_prometheus
        self.walls: list[float] = []
        self.count = 0

    def _left(self, remaining: int) -> str:
        per = sum(self.walls) / len(self.walls) if self.walls else self.step_s + 15
        left = remaining * per
        return f"about {left / 60:.0f} min left" if left >= 90 else f"about {left:.0f} s left"

    def step(self, rate: float, label: str, remaining_after: int, closed_loop_users: int | None = None) -> Step:
        self.count += 1
        self.progress(f"{label} ({self._left(remaining_after + 1)})")
        began = time.monotonic()
        name = f"saturation-{closed_loop_users}-users" if closed_loop_users else f"step-{self.count:02d}-{rate:g}"
        step = _one_step(self.c, self.target, rate, self.step_s, self.workers, self.locustfile, self.scenario_file,
                         self.work / name, self.exporter_port, self.progress, self.require_prometheus,
                         closed_loop_users, self.service_pids, self.single_writer)
        self.walls.append(time.monotonic() - began)
        return step

    def saturation(self, users: int = SATURATION_USERS, probes: int = SATURATION_PROBES) -> Step:
        """Closed-loop probes with twice the users each time until a resource is at its ceiling or more users
        add less than SATURATION_GAIN: too few users in flight only measure users / latency (Little's law)."""
        best: Step | None = None
        for n in range(probes):
            step = self.step(0, f"saturation: {users} users back to back (closed loop) for {self.step_s:g} s",
                             probes - n - 1, closed_loop_users=users)
            gained = best is None or step.authorize_rps > best.authorize_rps * SATURATION_GAIN
            if best is None or step.authorize_rps > best.authorize_rps:
                best = step
            if step.limit is not None or not gained:
                break
            users *= 2
            time.sleep(2)
        return best

    def climb(self, rates: list[float], confirm: bool = True, extend: bool = False) -> list[Step]:
        """The steps in order until one fails (with `confirm`, a failed step runs once more and only a second
        failure ends the climb: one slow outlier is the p99 of a short step); with `extend`, up to EXTEND more
        10 % apart when all held; then up to MAX_REFINE midpoints."""
        steps: list[Step] = []
        for i, rate in enumerate(rates, 1):
            step = self.step(rate, f"step {i}/{len(rates)}: {rate:g} requests/s for {self.step_s:g} s", len(rates) - i)
            if not step.passed and confirm:
                time.sleep(2)
                step = self.step(rate, f"  again, to confirm: {rate:g} requests/s", len(rates) - i)
            steps.append(step)
            if not step.passed:
                break  # past the knee: more load only queues
            time.sleep(2)  # let the service drain before the next step
        extra = 0
        while extend and steps and all(s.passed for s in steps) and extra < EXTEND:  # the knee is higher than planned
            extra += 1
            rate = round(steps[-1].rate * 1.1, 1)
            steps.append(self.step(rate, f"step +{extra}: {rate:g} requests/s (every planned step held)",
                                   EXTEND - extra))
            time.sleep(2)
        for n in range(MAX_REFINE):
            mid = refine_rate(steps)
            if mid is None:
                break
            time.sleep(2)
            steps.append(self.step(mid, f"refine {n + 1}: {mid:g} requests/s, between the knee and the first "
                                        "failure", MAX_REFINE - n - 1))
        return sorted(steps, key=lambda s: s.rate)


def run_steps(c: Catalog, target: runner.Target, rates: list[float], step_s: float, workers: int, locustfile: Path,
              scenario_file: Path | None, work: Path, exporter_port: int, progress=print,
              confirm: bool = True, require_prometheus: bool = True) -> list[Step]:
    """The open-loop steps alone (no saturation probe)."""
    return Climb(c, target, step_s, workers, locustfile, scenario_file, work, exporter_port, progress,
                 require_prometheus).climb(rates, confirm)


def _mean_response_s(summary) -> float | None:
    rows = [r for r in summary.rows if r.requests]
    total = sum(r.requests for r in rows)
    return sum(r.avg_ms * r.requests for r in rows) / total / 1000 if total else None


def _db_write_busy(c: Catalog, prom_url: str | None, start: float, end: float) -> float | None:
    """Seconds per second the service spent in ledger writes over [start, end] (its own histogram)."""
    if not prom_url or not c.signal_on(Key.LEDGER_WRITE_DURATION_SECONDS):
        return None
    name = c.metric(Key.LEDGER_WRITE_DURATION_SECONDS)
    window = f"{max(1, math.ceil(end - start))}s"
    try:
        with Prometheus(prom_url, timeout_s=10) as prom:
            rows = prom.instant(f"sum(rate({name}_sum[{window}]))", end)
    except PrometheusError:
        return None
    return float(rows[0]["value"][1]) if rows else None


def _one_step(c, target, rate, step_s, workers, locustfile, scenario_file, work, exporter_port, progress,
              require_prometheus: bool = True, closed_loop_users: int | None = None,
              service_pids: list[int] = (), single_writer: bool = False) -> Step:
    spec = runner.RunSpec(SCENARIO, rate=rate or None, users=closed_loop_users, duration_s=step_s, workers=workers,
                          scenario_file=scenario_file, locustfile=locustfile, only_gates=STEP_GATES,
                          require_prometheus=require_prometheus, closed_loop=closed_loop_users is not None)
    outcome = runner.run(c, spec, target, work, exporter_port,
                         lambda line: progress("  " + line) if line.startswith("[") else None,
                         meter=meter_for(target, service_pids))
    s = outcome.summary
    reasons = [gt.reason for gt in outcome.gates if gt.status == "fail"]
    if closed_loop_users is None:
        delivered = s.rps / rate if rate else 0
        if delivered < DELIVERED:
            reasons.append(f"delivered {s.rps:.1f} of {rate:g} requests/s ({delivered:.0%})")
    prom = outcome.prom
    usage = outcome.usage
    if usage is not None:
        usage.db_write_busy = _db_write_busy(c, target.prometheus, outcome.started_at, outcome.ended_at)
        usage.single_writer = single_writer
    limit, why = resources.bottleneck(usage) if usage is not None else (None, "not measured")
    mean_s = _mean_response_s(s)
    step = Step(rate if closed_loop_users is None else round(s.rps, 1), s.rps, s.authorize_rps, s.authorize_p99_ms,
                prom.p99_s * 1000 if prom and prom.p99_s is not None else None, s.failure_ratio,
                prom.cost_per_authorization_usd if prom else None, not reasons, reasons,
                prom.locust_series if prom else None, closed_loop=closed_loop_users is not None,
                users=outcome.users, concurrency=usl.little_concurrency(s.rps, mean_s) if mean_s else None,
                usage=usage.to_dict() if usage is not None else None, limit=limit, limit_reason=why)
    if closed_loop_users is not None:
        progress(f"  saturation: {s.rps:.1f} requests/s = {s.authorize_rps:.1f} authorizations/s; limit: {why}")
    else:
        progress(f"  {'ok  ' if step.passed else 'FAIL'} {s.rps:.1f} requests/s, p99 "
                 f"{'-' if step.p99_ms is None else f'{step.p99_ms:.0f} ms'}; busiest: {why}"
                 + ("" if step.passed else f": {'; '.join(reasons)}"))
    return step


def fit_steps(steps: list[Step], saturation: Step | None) -> dict:
    """The USL fitted to (concurrency, authorizations/s) of every step and the saturation probe."""
    pts = [(s.concurrency, s.authorize_rps) for s in [*steps, *([saturation] if saturation else [])]
           if s.concurrency and s.authorize_rps > 0]
    try:
        return {"fit": usl.fit(pts).to_dict(), "points": pts, "error": None}
    except usl.FitError as exc:
        return {"fit": None, "points": pts, "error": str(exc)}


def contention(one: Step, many: Step, workers: int) -> float:
    """The USL's sigma between `workers` processes from their saturation throughput and one process's
    (kappa taken as 0 from two points): (n X1 / Xn - 1) / (n - 1), at least 0."""
    if one.authorize_rps <= 0 or many.authorize_rps <= 0 or workers < 2:
        raise ValueError("two saturation probes with throughput and at least 2 workers are needed")
    return max(0.0, workers * one.authorize_rps / many.authorize_rps - 1) / (workers - 1)


def plan(c: Catalog, sfile: scenarios.ScenarioFile, steps: list[Step], current: float, utilization: float,
         saturation: Step | None = None, database: str = "unknown", compare: dict | None = None) -> dict:
    """The plan: steps, knee, saturation, USL fit and projections for this database; with `compare`
    ({"database", "workers", "one": Step, "many": Step, "steps": [Step]}: a second setup measured with 1
    and N service processes) its projections beside, instances sharing that database by the USL."""
    k = knee(steps)
    costs = unit_costs(c, sfile)
    projections = []
    if k is not None and k.authorize_rps > 0:
        curve = [(s.authorize_rps, s.p99_ms) for s in steps if s.passed and s.p99_ms is not None]
        projections = project(current, k.authorize_rps, utilization, costs, curve, database=database)
    result = {"steps": [asdict(s) for s in steps], "knee": asdict(k) if k else None,
              "saturation": asdict(saturation) if saturation else None,
              "knee_share_of_saturation": (k.authorize_rps / saturation.authorize_rps
                                           if k and saturation and saturation.authorize_rps else None),
              "usl": fit_steps(steps, saturation), "database": database, "database_assumption": DATABASES[database],
              "current_authorizations_per_s": current, "utilization": utilization,
              "unit_costs": asdict(costs) if costs is not None else None,
              "projections": [asdict(p) for p in projections], "compare": None, "created_at": time.time()}
    if compare:
        ck = knee(compare["steps"])
        out = {"database": compare["database"], "workers": compare["workers"],
               "assumption": DATABASES[compare["database"]], "one": asdict(compare["one"]),
               "many": asdict(compare["many"]), "steps": [asdict(s) for s in compare["steps"]],
               "knee": asdict(ck) if ck else None, "contention": None, "per_process_authorizations_per_s": None,
               "projections": []}
        if ck is not None and ck.authorize_rps > 0:
            sigma = contention(compare["one"], compare["many"], compare["workers"])
            per_process = ck.authorize_rps * (1 + sigma * (compare["workers"] - 1)) / compare["workers"]
            curve = [(s.authorize_rps / compare["workers"], s.p99_ms) for s in compare["steps"]
                     if s.passed and s.p99_ms is not None]
            out.update(contention=sigma, per_process_authorizations_per_s=per_process,
                       projections=[asdict(p) for p in project(current, per_process, utilization, costs, curve,
                                                               database=compare["database"], contention=sigma)])
        result["compare"] = out
    return result


# ---------------------------------------------------------------- report


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
