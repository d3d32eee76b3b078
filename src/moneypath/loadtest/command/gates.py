"""Release gates: a load-test run judged against the catalog's SLOs. Pure; the numbers come in.

Each gate passes, fails with a one-line reason, or is not measured; a gate skipped with a one-line reason (not
measured here, or the scenario says it does not apply) is a not-measured result that is shown and not judged
(`Gate.skipped`: its check's `if_not_measured` is pass), written "skip" in result.json (`Gate.status`, the one
place the word is made). Thresholds are read from the catalog (`thresholds`): the latency SLO's `under`, the
availability SLO's error budget. The gate of a feature the catalog switches off (reconciliation, idempotency) is
skipped with the reason "feature X is off", which the verdict repeats (`feature_skips`); nothing is asked of
Prometheus for it. Money is shown in its currency's own exponent (`Catalog.money`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from moneypath._common.verdict import (
    FAIL,
    NOT_MEASURED,
    PASS,  # noqa: F401 (a gate's status is compared with gates.PASS too)
    Check,
    IfNotMeasured,
    Outcome,
    Verdict,
    not_measured,
    register,
)
from moneypath.catalog import Catalog
from moneypath.catalog.conventions import Key
from moneypath.catalog.features import FEATURES
from moneypath.formats.scenarios import OVERLOAD_GATES, Scenario, availability_slo, latency_slo
from moneypath.loadtest.command.launch import FLOWS_PER_S, REQUESTS_PER_S  # noqa: F401 (the run's rate units, named here too)
from moneypath.loadtest.command.soak import drift as dr
from moneypath.loadtest.command.stats import Summary

SKIP = "skip"  # result.json's word for a skipped gate (Gate.status), never an outcome


@dataclass
class Gate:
    name: str
    title: str
    source: str       # locust | prometheus | baseline | scenario
    outcome: Outcome  # pass | fail | not measured (no data: fails the run unless --no-prometheus)
    observed: str
    limit: str
    reason: str = ""  # one line, for a failure or a skip
    skipped: bool = False  # not measured, shown and not judged (does not apply to this run, or not asked for)

    def __post_init__(self):
        self.outcome = Outcome(self.outcome)  # ValueError for any fourth word
        if self.skipped:
            self.outcome = NOT_MEASURED

    @classmethod
    def skip(cls, name: str, title: str, source: str, observed: str, limit: str, reason: str) -> Gate:
        return cls(name, title, source, NOT_MEASURED, observed, limit, reason, skipped=True)

    def set_aside(self, reason: str) -> None:
        """Skip this gate after all (the run does not judge it), with why."""
        self.outcome, self.skipped, self.reason = NOT_MEASURED, True, reason

    @property
    def status(self) -> str:
        """result.json's word: pass, fail, not measured, or skip."""
        return SKIP if self.skipped else self.outcome.value

    @property
    def check(self) -> Check:
        return Check(name=self.name, outcome=self.outcome, why=self.reason,
                     if_not_measured=IfNotMeasured.PASS if self.skipped else IfNotMeasured.FAIL)

    def to_dict(self) -> dict[str, str]:
        """The gate as result.json has it (`jsonable` writes the same)."""
        return {"name": self.name, "title": self.title, "source": self.source, "status": self.status,
                "observed": self.observed, "limit": self.limit, "reason": self.reason}

    as_json = to_dict

    @classmethod
    def read(cls, gate: Gate | Mapping) -> Gate:
        """A gate as it is, or from result.json (its `status` word) or its fields (`outcome`, `skipped`)."""
        if isinstance(gate, Gate):
            return gate
        status = gate.get("status", gate.get("outcome"))
        skipped = status == SKIP or gate.get("skipped") is True
        return cls(gate["name"], gate["title"], gate["source"], NOT_MEASURED if skipped else status,
                   gate["observed"], gate["limit"], gate.get("reason") or "", skipped=skipped)


@dataclass
class GateThresholds:
    latency_slo: str | None
    p99_s: float | None
    availability_slo: str | None
    error_budget: float | None
    reconcile_within_s: float
    circuit_open_value: float | None
    features_off: frozenset[str] = frozenset()  # the catalog's optional domains that are off: their gates skipped
    money: Callable[[float, str], str] | None = None  # minor units + currency as people read them (Catalog.money)


# Signal keys (never metric names: those come from the catalog).
# The money signals no SLO covers, by the role the load test gives them.
MONEY_SIGNALS = {"duplicate_charges": Key.DUPLICATE_CHARGES_TOTAL, "ledger_imbalance": Key.LEDGER_IMBALANCE_MINOR,
                 "reconciliation_age": Key.RECONCILIATION_OLDEST_UNRECONCILED_SECONDS,
                 "circuit_state": Key.PROVIDER_CIRCUIT_STATE, "cost": Key.COST_USD_TOTAL}


# The gates an optional domain owns (moneypath.catalog.features).
FEATURE_GATES = {"reconciliation": "reconciliation", "idempotent_replays": "idempotency", "circuit_opened": "breaker",
                 "ledger_balanced": "ledger"}
IDEMPOTENT_REPLAYS = "one payment per idempotency key"
# Why a gate does not apply to a run: each gate is in every run's table, judged or skipped with its reason.
FLOW_LATENCY = ("a flow: Locust times the authorizing step's whole call (the service's own work around the "
                "provider's authorization), not what the SLO bounds; the service's histogram judges it")
NO_FLOW_OBJECTIVE = "scenario {scenario} sets no flow_p99_ms (an objective for the whole flow, first step to last)"
NO_REPLAYS = "no key was replayed: only a scenario with retry: replays each key"
NO_CIRCUIT_EXPECTED = "the scenario expects no circuit to open (expect_circuit_open)"


def feature_off(feature: str) -> str:
    """The skip reason of a gate whose feature the catalog switches off."""
    return f"feature {feature} is off"


def feature_skips(gates: Iterable[Gate | Mapping]) -> list[str]:
    """'<gate title> (feature X is off)' for each gate skipped because its feature is off: the verdict's list."""
    reasons = {feature_off(f) for f in FEATURE_GATES.values()}
    return [f"{g.title} ({g.reason})" for g in map(Gate.read, gates) if g.skipped and g.reason in reasons]


class SignalError(ValueError):
    """The catalog lacks a signal the load test reads; one line."""


def money_signals(c: Catalog) -> dict[str, str]:
    """Role -> exported metric name of every signal the load test reads, leaving out the roles of
    features the catalog switches off; SignalError names a missing key."""
    roles = {role: key for role, key in MONEY_SIGNALS.items() if c.signal_on(key)}
    for role, key in roles.items():
        if key not in c.signals:
            raise SignalError(f"{c.path}: signals.{key}: missing; the load test reads it ({role.replace('_', ' ')})")
    return {role: c.metric(key) for role, key in roles.items()}


def thresholds(c: Catalog, reconcile_within_s: float) -> GateThresholds:
    lat, avail = latency_slo(c), availability_slo(c)
    circuit = c.signals.get(MONEY_SIGNALS["circuit_state"])
    open_value = circuit.enum.get("open") if circuit is not None and circuit.enum else None
    off = frozenset(name for name in FEATURES if not c.enabled(name))
    return GateThresholds(lat[0] if lat else None, lat[1].sli.latency.under if lat else None,
                          avail[0] if avail else None, avail[1].error_budget if avail else None,
                          reconcile_within_s, open_value, off, c.money)


@dataclass
class PromObservations:
    """What Prometheus saw over the run's window; None where it had no data."""
    p99_s: float | None = None
    error_ratio: float | None = None
    authorizations: float | None = None
    duplicate_charges: float | None = None
    ledger_imbalance_max_abs: float | None = None
    ledger_imbalance_currency: str | None = None  # the currency of that worst imbalance, when it is not 0
    caught_up_after_s: float | None = None     # seconds after the run until nothing waited; None: not in time
    oldest_unreconciled_s: float | None = None  # last value seen while waiting
    circuit_max: float | None = None
    locust_series: int | None = None           # Locust exporter series Prometheus scraped during the run
    cost_per_authorization_usd: float | None = None
    # gate name -> why its zero is no evidence: the detector it reads was not seen running (moneypath.check.detector_runs)
    unseen: dict[str, str] = field(default_factory=dict)


def _ms(v: float | None) -> str:
    return "no data" if v is None else f"{v:.0f} ms"


def _pct(v: float | None) -> str:
    return "no data" if v is None else f"{v * 100:.3g} %"


def evaluate(summary: Summary, prom: PromObservations | None, thr: GateThresholds, scenario: Scenario,
             prometheus_reason: str = "no Prometheus for the run", prometheus_required: bool = True) -> list[Gate]:
    """Every gate for one run. `prom` None (no Prometheus, or it failed during the run): the gates
    that need it fail with `prometheus_reason`: a release is not judged without evidence from the
    service. Only when the user opted out (`prometheus_required` False, `--no-prometheus`) are they
    skipped, with that reason; but a flow's authorization latency, which nothing else measures, is then
    not measured. Every gate of a run is in the list: judged, or skipped with why it does not apply."""
    who = f" ({scenario.judge_provider})" if scenario.judge_provider else ""
    gates: list[Gate] = []
    no_prom = None if prom is not None else prometheus_reason

    def add(name, title, source, ok, observed, limit, reason_if_failed, skip_reason=None, needs_prom=False,
            only_prom=False):
        """`only_prom`: nothing but Prometheus can measure it, so opting out of Prometheus leaves it not measured."""
        if name in scenario.skip_gates:
            gates.append(Gate.skip(name, title, source, observed, limit, f"scenario {scenario.name} skips it"))
        elif skip_reason:
            gates.append(Gate.skip(name, title, source, observed, limit, skip_reason))
        elif needs_prom and no_prom and prometheus_required:
            gates.append(Gate(name, title, source, FAIL, "no evidence", limit, f"{title}: not proven: {no_prom}"))
        elif needs_prom and no_prom and only_prom:
            gates.append(Gate(name, title, source, NOT_MEASURED, "no evidence", limit, not_measured(only_prom)))
        elif needs_prom and no_prom:
            gates.append(Gate.skip(name, title, source, "not judged", limit, no_prom))
        elif ok is None:  # no data for it: not measured, never a pass and never a zero
            gates.append(Gate(name, title, source, NOT_MEASURED, observed, limit, not_measured(reason_if_failed)))
        else:
            gates.append(Gate(name, title, source, Outcome.of(ok), observed, limit, "" if ok else reason_if_failed))

    p = prom or PromObservations()

    # latency: the SLO's threshold for the 99th percentile of authorizations. A flow's authorizing step is a call of
    # the shop's own (order creation and more around the provider's authorization): Locust's clock is the wrong one
    # for the SLO, so the service's histogram alone judges a flow's authorizations (FLOW_LATENCY).
    flow = getattr(summary, "flows", None) is not None
    note = getattr(summary, "warmup_note", "")  # a summary of the steady part says what it left out
    steady = f" ({note})" if note else ""
    if thr.p99_s is None:
        for name, src in (("p99_latency_locust", "locust"), ("p99_latency_prometheus", "prometheus")):
            add(name, f"p99 authorization latency{who}", src, True, "-", "-", "", "the catalog has no latency SLO")
    else:
        limit_ms = thr.p99_s * 1000
        v = summary.authorize_p99_ms
        add("p99_latency_locust", f"p99 authorization latency{who}, Locust", "locust", None if v is None else v <= limit_ms,
            _ms(v) + steady, f"<= {limit_ms:.0f} ms ({thr.latency_slo})",
            f"p99 authorization latency{who} {_ms(v)} (Locust) is over the {thr.latency_slo} SLO threshold "
            f"{limit_ms:.0f} ms" if v is not None else f"Locust recorded no authorization{who}",
            FLOW_LATENCY if flow else None)
        pv = p.p99_s
        add("p99_latency_prometheus", f"p99 authorization latency{who}, service", "prometheus",
            None if pv is None else pv <= thr.p99_s, _ms(None if pv is None else pv * 1000), f"<= {limit_ms:.0f} ms",
            f"p99 authorization latency{who} {_ms(None if pv is None else pv * 1000)} (service histogram in "
            f"Prometheus) is over the {thr.latency_slo} SLO threshold {limit_ms:.0f} ms"
            if pv is not None else f"Prometheus has no authorization latency{who} for the run", needs_prom=True,
            only_prom=f"a flow's authorization latency is read from the service's histogram only; {no_prom}"
            if flow else False)

    # the whole flow, first step to last, on Locust's clock: the scenario's own end-to-end objective
    fv, flow_limit = getattr(summary, "flow_p99_ms", None), scenario.flow_p99_ms
    add("flow_p99_locust", f"p99 flow latency{who}, Locust", "locust",
        None if fv is None or not flow else fv <= (flow_limit or 0), _ms(fv if flow else None) + (steady if flow else ""),
        "-" if flow_limit is None else f"<= {flow_limit:g} ms (flow_p99_ms)",
        f"p99 flow latency{who} {_ms(fv)} (Locust, first step to last) is over the scenario's flow_p99_ms "
        f"{flow_limit or 0:g} ms" if fv is not None and flow
        else f"no flow ran{who}: the locustfile's user sends no request template's flow",
        NO_FLOW_OBJECTIVE.format(scenario=scenario.name) if flow_limit is None else None)

    # failures: the availability SLO's error budget
    if thr.error_budget is None:
        for name, src in (("failure_ratio_locust", "locust"), ("failure_ratio_prometheus", "prometheus")):
            add(name, f"failure ratio{who}", src, True, "-", "-", "", "the catalog has no availability SLO")
    else:
        fr = summary.failure_ratio
        what = "requests" if getattr(summary, "flows", None) is None else "flows and captures"
        top = max(getattr(summary, "flow_reasons", {}).items(), key=lambda kv: kv[1], default=None)
        why = f"; most often {top[0]} ({top[1]}x)" if top else ""
        add("failure_ratio_locust", f"failure ratio{who}, Locust", "locust",
            None if fr is None else fr <= thr.error_budget,
            f"{_pct(fr)} ({summary.judged_failures}/{summary.judged_requests})",
            f"<= {_pct(thr.error_budget)} ({thr.availability_slo})",
            f"failure ratio{who} {_pct(fr)} ({summary.judged_failures} of {summary.judged_requests} {what}, Locust) "
            f"is over the {thr.availability_slo} error budget {_pct(thr.error_budget)}{why}"
            if fr is not None else f"Locust sent no request{who}")
        er = p.error_ratio
        add("failure_ratio_prometheus", f"authorization error ratio{who}, service", "prometheus",
            None if er is None else er <= thr.error_budget, _pct(er), f"<= {_pct(thr.error_budget)}",
            f"authorization error ratio{who} {_pct(er)} (service counters in Prometheus) is over the "
            f"{thr.availability_slo} error budget {_pct(thr.error_budget)}"
            if er is not None else f"Prometheus counted no authorization{who} during the run", needs_prom=True)

    # money: never charged twice, one payment per idempotency key, the ledger balances, reconciliation catches up
    dup = p.duplicate_charges
    add("duplicate_charges", "zero duplicate charges", "prometheus", None if dup is None else dup == 0,
        "no data" if dup is None else f"{dup:.0f}",
        "0", f"the service counted {dup:.0f} duplicate charges during the run" if dup
        else "Prometheus has no duplicate-charge counter for the run", needs_prom=True)

    replay = _replay_gate(summary)
    if "idempotency" in thr.features_off:
        add("idempotent_replays", IDEMPOTENT_REPLAYS, "locust", True, "-", "-", "", feature_off("idempotency"))
    elif replay is not None:  # the client replayed keys (the retry storm)
        add("idempotent_replays", IDEMPOTENT_REPLAYS, "locust", not replay[1], replay[0], "0 keys with two payments",
            "; ".join(replay[1]))
    else:
        add("idempotent_replays", IDEMPOTENT_REPLAYS, "locust", True, "-", "-", "", NO_REPLAYS)

    imb, currency = p.ledger_imbalance_max_abs, p.ledger_imbalance_currency
    if imb is not None and currency and thr.money is not None:
        observed = worst = thr.money(imb, currency)  # e.g. "KWD 1.250"
    elif imb is not None:
        observed, worst = f"{imb:.0f} minor", f"{imb:.0f} minor units"
    if "ledger" in thr.features_off:
        add("ledger_balanced", "ledger balanced", "prometheus", True, "-", "-", "", feature_off("ledger"))
    else:
        add("ledger_balanced", "ledger balanced", "prometheus", None if imb is None else imb == 0,
            "no data" if imb is None else observed, "0 in every currency",
            f"the ledger was out of balance by up to {worst} during the run" if imb is not None
            else "Prometheus has no ledger imbalance gauge for the run", needs_prom=True)

    caught, last = p.caught_up_after_s, p.oldest_unreconciled_s
    off = "reconciliation" in thr.features_off
    add("reconciliation", "reconciliation caught up", "prometheus",
        True if caught is not None else None if last is None else False,
        "-" if off else f"after {caught:.0f} s" if caught is not None
        else ("no data" if last is None else f"{last:.0f} s still waiting"),
        "-" if off else f"within {thr.reconcile_within_s:.0f} s after the run",
        f"reconciliation had not caught up {thr.reconcile_within_s:.0f} s after the run (oldest capture waiting "
        f"{last:.0f} s)" if last is not None else "Prometheus has no reconciliation gauge",
        feature_off("reconciliation") if off else None, needs_prom=True)

    if scenario.expect_circuit_open:
        want, cm = thr.circuit_open_value, p.circuit_max
        add("circuit_opened", f"circuit opened for {scenario.expect_circuit_open}", "prometheus",
            want is not None and cm is not None and cm >= want, "no data" if cm is None else f"state {cm:.0f}",
            f"state {want}" if want is not None else "-",
            f"the circuit breaker for {scenario.expect_circuit_open} never opened during the run",
            feature_off("breaker") if "breaker" in thr.features_off else
            None if want is not None else f"the catalog's {MONEY_SIGNALS['circuit_state']} has no 'open' value",
            needs_prom=True)
    else:
        add("circuit_opened", "circuit opened", "prometheus", True, "-", "-", "", NO_CIRCUIT_EXPECTED)
    for gate in gates:  # a zero from a detector not seen running is not a pass (a figure that is not zero stands)
        if gate.outcome is PASS and gate.name in p.unseen:
            gate.outcome, gate.observed, gate.reason = NOT_MEASURED, f"{gate.observed}, detector unseen", p.unseen[gate.name]
    return gates


def _replay_gate(summary: Summary) -> tuple[str, list[str]] | None:
    """(observed, failure reasons) of the client's replay check; None when the client replayed no key."""
    seen, checks = summary.duplicates_seen, summary.duplicate_checks
    keys, unanswered = summary.keys_completed, summary.replays_unanswered or 0
    if checks is None and keys is None:
        return None
    checks, seen = checks or 0, seen or 0
    unchecked = max(0, keys - checks - unanswered) if keys is not None else 0
    observed = f"{seen} of {checks} replayed keys answered with another payment"
    if keys is not None:
        observed += f", {checks} of {keys} completed keys checked"
    reasons = []
    if seen:
        reasons.append(f"{seen} idempotency keys answered with two different payments (client replay check)")
    if unanswered:
        reasons.append(f"{unanswered} keys got no answer to any replay: not proven charged once (client replay check)")
    if unchecked:
        reasons.append(f"{unchecked} of {keys} completed keys were never replay-checked (client replay check)")
    return observed, reasons


@dataclass
class Tolerances:
    p99_increase: float = 0.20   # fail when p99 grew by more than this share
    rps_decrease: float = 0.10   # fail when throughput fell by more than this share


LOAD_FIELDS = (("users", "users", "{:g}"), ("duration_s", "duration", "{:g} s"), ("workers", "workers", "{:g}"))


def _load_differences(current: dict, baseline: dict) -> list[str]:
    """What differs in the load besides the rate: 'users 20 (baseline 10)', ..."""
    out = []
    if baseline.get("scenario") != current.get("scenario"):
        out.append(f"baseline is scenario {baseline.get('scenario')!r}")
    for key, label, fmt in LOAD_FIELDS:
        b, c = baseline.get(key), current.get(key)
        if b is not None and c is not None and b != c:
            out.append(f"{label} {fmt.format(c)} (baseline {fmt.format(b)})")
    return out


def compare(current: dict, baseline: dict, tol: Tolerances) -> list[Gate]:
    """Regression gates against a previous run's result JSON (`current`/`baseline` as written by the report).

    The rule: a p99 or a throughput is only compared at the same offered rate. The rate must be within
    the throughput tolerance of the baseline's (gate `baseline_load`); when it is not, that gate fails
    and the two regression gates are skipped as not comparable. Other differences (scenario, users,
    duration, workers) are compared anyway and named in every baseline gate's observed value and reason.
    """
    gates = []
    diffs = _load_differences(current, baseline)
    note = f" ({'; '.join(diffs)})" if diffs else ""
    b_rate, c_rate = baseline.get("rate"), current.get("rate")
    unit = current.get("rate_unit") or REQUESTS_PER_S
    comparable = True
    if not b_rate or c_rate is None:
        gates.append(Gate.skip("baseline_load", "load as in the baseline", "baseline", "-", "-",
                               "the baseline or this run has no offered rate: load not compared"))
    else:
        off = c_rate / b_rate - 1
        comparable = abs(off) <= tol.rps_decrease + 1e-12
        gates.append(Gate("baseline_load", "load as in the baseline", "baseline", Outcome.of(comparable),
                          f"{c_rate:g} {unit} (baseline {b_rate:g}){note}", f"rate within ±{tol.rps_decrease:.0%}",
                          "" if comparable else f"this run offered {c_rate:g} {unit}, the baseline {b_rate:g} "
                          f"({off:+.0%}, more than the ±{tol.rps_decrease:.0%} throughput tolerance): a p99 at another "
                          f"rate is not comparable; run the baseline at this rate{note}"))
    not_comparable = f"not comparable: the baseline ran at {b_rate:g} {unit}" if not comparable else ""
    b_p99, c_p99 = baseline["locust"].get("authorize_p99_ms"), current["locust"].get("authorize_p99_ms")
    if not comparable:
        gates.append(Gate.skip("regression_p99", "p99 vs baseline", "baseline", _ms(c_p99), "-", not_comparable))
    elif b_p99 is None or c_p99 is None:
        gates.append(Gate.skip("regression_p99", "p99 vs baseline", "baseline", _ms(c_p99), "-",
                               "no authorization p99 in the baseline or this run"))
    else:
        limit = b_p99 * (1 + tol.p99_increase)
        ok = c_p99 <= limit
        gates.append(Gate("regression_p99", "p99 vs baseline", "baseline", Outcome.of(ok),
                          f"{c_p99:.0f} ms (baseline {b_p99:.0f} ms){note}",
                          f"<= {limit:.0f} ms (+{tol.p99_increase:.0%})",
                          "" if ok else f"p99 authorization latency regressed {c_p99:.0f} ms vs baseline {b_p99:.0f} ms "
                          f"(+{(c_p99 / b_p99 - 1) if b_p99 else float('inf'):.0%}, tolerance "
                          f"+{tol.p99_increase:.0%}){note}"))
    b_rps, c_rps = baseline["locust"].get("rps"), current["locust"].get("rps")
    if not comparable:
        gates.append(Gate.skip("regression_rps", "throughput vs baseline", "baseline", "-", "-", not_comparable))
    elif not b_rps or c_rps is None:
        gates.append(Gate.skip("regression_rps", "throughput vs baseline", "baseline", "-", "-",
                               "no throughput in the baseline or this run"))
    else:
        limit = b_rps * (1 - tol.rps_decrease)
        ok = c_rps >= limit
        gates.append(Gate("regression_rps", "throughput vs baseline", "baseline", Outcome.of(ok),
                          f"{c_rps:.1f}/s (baseline {b_rps:.1f}/s){note}", f">= {limit:.1f}/s (-{tol.rps_decrease:.0%})",
                          "" if ok else f"throughput regressed {c_rps:.1f}/s vs baseline {b_rps:.1f}/s "
                          f"({c_rps / b_rps - 1:.0%}, tolerance -{tol.rps_decrease:.0%}){note}"))
    return gates


def breaches(gates: Iterable[Gate | Mapping]) -> list[str]:
    """One line per gate that fails the run: a failure, or a gate that was not measured (a skip is neither)."""
    return [g.reason for g in map(Gate.read, gates) if g.check.breach]


def gates_verdict(gates: Iterable[Gate | Mapping]) -> Outcome:
    """pass, fail, or not measured (no gate failed, and one was not measured or none passed: a run whose every
    gate was skipped judged nothing); gates as they are or as result.json has them."""
    return Verdict(tuple(Gate.read(g).check for g in gates)).outcome


register("loadtest.gates", evaluate)
register("loadtest.drift_gates", lambda d, scenario: drift_gates(d, scenario))


# The soak's drift (moneypath.loadtest.command.soak.drift): one gate per figure, so that skip_gates can leave one out.
DRIFT_GATES = {"cpu_ms_per_authorization": "drift_cpu_per_authorization", "p99_ms": "drift_p99",
               "rss_mb": "drift_rss", "db_bytes_per_payment": "drift_db_per_payment"}


def drift_gates(d: dr.Drift, scenario: Scenario) -> list[Gate]:
    """A gate per drift figure: pass or fail on its growth from the first minute after the warm-up to the last;
    skipped, with the reason, when not measured or not judged (a run too short, chunks too coarse)."""
    out = []
    for m in d.metrics:
        name = DRIFT_GATES[m.key]
        title = f"drift: {m.title}"
        limit = f"<= +{d.limit:.0%} (first minute after warm-up -> last)"
        if m.key == "rss_mb" and d.windows is not None and d.windows.rss_first not in (None, d.windows.first):
            limit = f"<= +{d.limit:.0%} (first minute after the memory warm-up -> last)"
        observed = (f"{dr.fmt(m.first, m.unit)} -> {dr.fmt(m.last, m.unit)}"
                    + (f" ({m.drift:+.1%})" if m.drift is not None else ""))
        if name in scenario.skip_gates:
            out.append(Gate.skip(name, title, "drift", observed, limit, f"scenario {scenario.name} skips it"))
        elif m.skipped:
            out.append(Gate.skip(name, title, "drift", observed if m.first is not None else "-", limit, m.reason))
        elif m.outcome is NOT_MEASURED:
            out.append(Gate(name, title, "drift", NOT_MEASURED, observed if m.first is not None else "-", limit,
                            not_measured(m.reason)))
        else:
            out.append(Gate(name, title, "drift", m.outcome, observed, limit, m.reason))
    return out


# The gates whose figure depends on the rate offered: where the asked rate did not hold (a load-generator worker lost,
# the generator the bottleneck) they are not measured, or judged on the rest (moneypath.loadtest.command.load_generator).
# The money gates (duplicates, one payment per key, the ledger, reconciliation, the circuit) hold at any rate.
RATE_GATES = frozenset({"p99_latency_locust", "p99_latency_prometheus", "flow_p99_locust", "failure_ratio_locust",
                        "failure_ratio_prometheus", "regression_p99", "regression_rps", *DRIFT_GATES.values(),
                        *OVERLOAD_GATES})
