"""`moneypath capacity`, the plan: measured steps → the knee → instances, p99 and cost at 1x/10x/100x.

The knee is the highest offered rate whose step met the latency and failure gates and
delivered (almost) what was asked; above it the service queues and the p99 climbs. One
instance carries the knee; a volume needs ceil(volume / (knee x utilization)) instances, so
infrastructure cost grows in steps while provider fees and fraud screening grow per
transaction (the catalog's `cost:` model, as the reference service accrues it in
src/moneypath/reference/refservice/cost.py). A shared database is not multiplied: on SQLite
(one writer) a plan past one instance is not feasible, and instances sharing a database server
carry n x knee / (1 + sigma (n - 1)) with sigma measured between processes. Without the cost
feature the plan is instances and p99 only; without fraud screening there is no fraud share.

Pure (no I/O): measure.py measures the steps, plan_report.py writes the plan.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from moneypath._common.verdict import FAIL, NOT_MEASURED, PASS, Check, Outcome, not_measured, register
from moneypath.catalog import Catalog
from moneypath.formats import scenarios
from moneypath.loadtest.command.capacity import usl
from moneypath.loadtest.command.gates import Gate, gates_verdict
from moneypath.loadtest.command.launch import FLOWS_PER_S, REQUESTS_PER_S
from moneypath.loadtest.command.stats import Summary
from moneypath.loadtest.in_locust import shape

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
class CapacityStep:
    """One measured step. `rate`, `achieved_rps` and `goodput_rps` count what the locustfile paces, the plan's
    `rate_unit` (launch.rate_unit): requests, or whole flows of a request template's steps."""
    rate: float                  # offered, per second
    achieved_rps: float          # ended (answered or failed) per second: requests, or flows first step to last
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
    goodput_rps: float | None = None  # succeeded per second (requests, or flows); None: not measured (an older plan)
    refused_rps: float = 0.0          # requests answered 503/429 per second, the service shedding load; 0: none or unknown
    status: Outcome | None = None     # pass | fail | not measured (step_status); None: an older plan (see passed)
    requests_rps: float | None = None  # HTTP requests sent per second (a flow's every step); None: an older plan
    generator_bound: bool = False  # the load generator, not the service, was the bottleneck: the step is not measured
    generator: dict | None = None  # worker_health.WorkerHealth.to_dict() of the step's load generator; None: not measured
    conservation: dict | None = None  # the step's reconciliation of counts (counts.as_dict)


def step_status(gates: list[Gate]) -> tuple[Outcome, list[str]]:
    """A step's verdict from its gates (moneypath.loadtest.command.gates.Gate): fail with the failures' reasons; else not
    measured with what returned nothing (a gate without data, or no gate passed: none at all, or every one
    skipped); else pass. A step not measured is no pass: the knee stops below it."""
    outcome = gates_verdict(gates)
    if outcome is FAIL:
        return FAIL, [g.reason for g in gates if g.outcome is FAIL]
    if outcome is NOT_MEASURED:
        unmeasured = [g.reason for g in gates if g.outcome is NOT_MEASURED and not g.skipped]
        skipped = "; ".join(f"{g.name}: {g.reason}" for g in gates)
        return NOT_MEASURED, unmeasured or [not_measured("no gate judged the step" + (f" ({skipped})" if skipped else ""))]
    return PASS, []


register("loadtest.capacity_step", step_status)


def plan_verdict(result: Mapping) -> Check:
    """The plan's verdict (its capacity.json: "knee", "steps"): pass with a knee; else not measured when the
    lowest step rests on what returned nothing (its reasons), else fail: no step met the gates."""
    if result["knee"] is not None:
        return Check(name="capacity", outcome=PASS, why="a step met the gates: the knee")
    steps = sorted((s for s in result["steps"] if not s.get("closed_loop")), key=lambda s: s["rate"])
    if steps and steps[0].get("status") == NOT_MEASURED:
        return Check(name="capacity", outcome=NOT_MEASURED,
                     why=f"no knee, the first step was not measured: {'; '.join(steps[0]['reasons'])}")
    return Check(name="capacity", outcome=FAIL, why="no step met the gates, so there is no knee: start lower (--start)")


def achieved_rps(s: Summary, unit: str = REQUESTS_PER_S) -> float:
    """What a step achieved, in what it offered: HTTP requests per second (`Summary.rps`: retried attempts
    included), or with flows the whole flows that ended per second (`Summary.flow_rps`, FLOW entries: the
    requests of a flow's steps are not flows)."""
    return (s.flow_rps or 0.0) if unit == FLOWS_PER_S else s.rps


def rate_unit_of(result: dict) -> str:
    """What a plan's offered, achieved and goodput rates count (`plan`'s rate_unit); an older plan's: requests."""
    return result.get("rate_unit") or REQUESTS_PER_S


def per(unit: str) -> str:
    """What follows a rate written without its name: "/s" beside requests (as a one-request plan reads), else
    " flows/s"."""
    return "/s" if unit == REQUESTS_PER_S else f" {unit}"


def goodput_rps(s: Summary, unit: str = REQUESTS_PER_S) -> float:
    """Successful responses per second: achieved requests/s less failed requests/s (both HTTP, attempts
    included); with flows, flows that ended less those that failed. Past saturation the achieved rate can hold
    while this falls: answered, but with errors."""
    if not s.duration_s:
        return 0.0
    if unit == FLOWS_PER_S:
        return max(0.0, (s.flow_rps or 0.0) - (s.flow_failures or 0) / s.duration_s)
    return max(0.0, s.rps - s.http_failures / s.duration_s)


def knee(steps: list[CapacityStep]) -> CapacityStep | None:
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
    shares = shape.action_shares(sfile)
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


# ---------------------------------------------------------------- automatic steps

FRACTIONS = (0.4, 0.6, 0.75, 0.85, 0.95, 1.05)  # automatic steps, as shares of the saturation throughput
REFINE_GAP = 0.10       # bisect between the knee and the first failure while they are further apart than this


def auto_rates(saturation_rps: float) -> list[float]:
    """Open-loop steps around the closed-loop saturation throughput, so the knee is found near it."""
    return [round(saturation_rps * f, 1) for f in FRACTIONS if saturation_rps * f > 0]


def refine_rate(steps: list[CapacityStep]) -> float | None:
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


def fit_steps(steps: list[CapacityStep], saturation: CapacityStep | None) -> dict:
    """The USL fitted to (concurrency, authorizations/s) of every step and the saturation probe."""
    pts = [(s.concurrency, s.authorize_rps) for s in [*steps, *([saturation] if saturation else [])]
           if s.concurrency and s.authorize_rps > 0]
    try:
        return {"fit": usl.fit(pts).to_dict(), "points": pts, "error": None}
    except usl.FitError as exc:
        return {"fit": None, "points": pts, "error": str(exc)}


def generator_plan(steps: list[CapacityStep], unit: str = REQUESTS_PER_S) -> dict:
    """The load generator across the steps: the CPU it spent per unit of rate (the median of the steps'), the steps
    where it was the bottleneck (not measured: the knee stops below the first) and how many Locust workers each of
    their rates needs, at worker_health.WORKER_CORES of a core each."""
    from moneypath.loadtest.command.worker_health import BOTTLENECK, WORKER_CORES

    costs = [s.generator["cores_per_rate"] for s in steps if s.generator and s.generator.get("cores_per_rate")]
    per_rate = statistics.median(costs) if costs else None
    bound, lines = [], []
    for s in sorted((s for s in steps if s.generator_bound), key=lambda s: (not s.closed_loop, s.rate)):
        rate = s.achieved_rps if s.closed_loop else s.rate
        needs = max(1, math.ceil(rate * per_rate / WORKER_CORES - 1e-9)) if per_rate else None
        what = (f"saturation probe ({s.users} users, {s.achieved_rps:.1f} {unit})" if s.closed_loop
                else f"step {s.rate:g} {unit}")
        bound.append({"rate": s.rate, "closed_loop": s.closed_loop, "workers_needed": needs,
                      "why": (s.generator or {}).get("bottleneck") or []})
        lines.append(f"{what}: {BOTTLENECK} ({'; '.join(bound[-1]['why'])}), not measured"
                     + (f"; it needs {needs} Locust workers (--workers {needs}) at {WORKER_CORES:.0%} of a core each, "
                        f"{per_rate * 1000:.2f} ms of generator CPU per {unit.split('/')[0][:-1]}" if needs else ""))
    top = max((s.rate for s in steps if not s.closed_loop), default=None)
    if per_rate and top:
        needs = max(1, math.ceil(top * per_rate / WORKER_CORES - 1e-9))
        lines.append(f"{per_rate * 1000:.2f} ms of generator CPU per {unit.split('/')[0][:-1]}: the highest step, "
                     f"{top:g} {unit}, needs {needs} Locust worker{'s' if needs > 1 else ''} at {WORKER_CORES:.0%} of "
                     "a core each")
    return {"cores_per_rate": per_rate, "worker_cores": WORKER_CORES, "bound": bound, "lines": lines}


def contention(one: CapacityStep, many: CapacityStep, workers: int) -> float:
    """The USL's sigma between `workers` processes from their saturation throughput and one process's
    (kappa taken as 0 from two points): (n X1 / Xn - 1) / (n - 1), at least 0."""
    if one.authorize_rps <= 0 or many.authorize_rps <= 0 or workers < 2:
        raise ValueError("two saturation probes with throughput and at least 2 workers are needed")
    return max(0.0, workers * one.authorize_rps / many.authorize_rps - 1) / (workers - 1)


def plan(c: Catalog, sfile: scenarios.ScenarioFile, steps: list[CapacityStep], current: float, utilization: float,
         saturation: CapacityStep | None = None, database: str = "unknown", compare: dict | None = None,
         rate_unit: str = REQUESTS_PER_S) -> dict:
    """The plan: steps, knee, saturation, USL fit and projections for this database, its rates in `rate_unit`
    (what the locustfile paces: requests/s or flows/s, every step's and the comparison's); with `compare`
    ({"database", "workers", "one": CapacityStep, "many": CapacityStep, "steps": [CapacityStep]}: a second setup
    measured with 1 and N service processes) its projections beside, instances sharing that database by the USL."""
    k = knee(steps)
    costs = unit_costs(c, sfile)
    projections = []
    if k is not None and k.authorize_rps > 0:
        curve = [(s.authorize_rps, s.p99_ms) for s in steps if s.passed and s.p99_ms is not None]
        projections = project(current, k.authorize_rps, utilization, costs, curve, database=database)
    result = {"rate_unit": rate_unit, "generator": generator_plan([*steps, *([saturation] if saturation else [])],
                                                                  rate_unit),
              "steps": [asdict(s) for s in steps], "knee": asdict(k) if k else None,
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
