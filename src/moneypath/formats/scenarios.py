"""The scenario file format (loadtests/scenarios.yaml beside a locustfile; the reference service's and every
project `moneypath init` writes): its models, reading it with one line per problem, and checking it against the
catalog (providers, currencies, methods, fault targets, the payouts feature).

Pure: no Locust, no I/O beyond reading the file. `moneypath loadtest` and `capacity` load it before starting
anything (`load`: the first problem, one line), `moneypath lint` reports every problem (`problems`), and the
Locust side (moneypath.loadtest.in_locust.harness and .user, the load's shape in moneypath.loadtest.in_locust.shape) turns a
`Scenario` into users and pacing. The vocabulary the file is written in lives here too: the actions a mix
weighs (ACTIONS), the gates a scenario may skip (GATE_NAMES), and which of the catalog's SLOs judge
authorizations (`latency_slo`, `availability_slo`), whose histogram names the methods the file may draw.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from moneypath._common import yamlio
from moneypath._common.strict import StrictModel as _Model
from moneypath.catalog import Catalog, Slo
from moneypath.catalog.conventions import Key
from moneypath.catalog.load import key_lines
from moneypath.catalog.matchers import VALUE_CUTOFF, did_you_mean
from moneypath.catalog.model import nearest_line
from moneypath.catalog.yaml_errors import error_line, error_text
from moneypath.formats.fault_specs import fault_specs
from moneypath.formats.scenario_kubernetes import KubernetesRun
from moneypath.protocol.faults.switches import FaultError, Faults
from moneypath.protocol.faults.vocabularies import WHERE

SCENARIO_FILE = "loadtests/scenarios.yaml"  # a project's, under its root: where `moneypath loadtest` looks by default
ACTIONS = ("authorize", "capture", "refund", "payout")  # what a mix weighs; a locustfile's user defines each it sends
GATE_NAMES = ("p99_latency_locust", "p99_latency_prometheus", "flow_p99_locust", "failure_ratio_locust",
              "failure_ratio_prometheus",
              "duplicate_charges", "idempotent_replays", "ledger_balanced", "reconciliation", "circuit_opened",
              "drift_cpu_per_authorization", "drift_p99", "drift_rss", "drift_db_per_payment")
OVERLOAD_GATES = ("overload_goodput", "overload_refused_fast", "overload_admitted", "overload_priority",
                  "overload_recovery")
GATE_NAMES += OVERLOAD_GATES


class ScenarioError(Exception):
    """A scenario file or choice that cannot be used; the message is one line."""


class Baseline(_Model):
    rate: float = Field(gt=0, default=10)
    users: int = Field(gt=0, default=10)
    duration_s: float = Field(gt=0, default=60)
    # The Locust latency gate judges what comes after this (connections, caches, the limit learning);
    # left out only when the run is at least three times as long. Money and failure gates judge it all.
    warmup_s: float = Field(ge=0, default=15)


class ScenarioAmounts(_Model):
    median: int = Field(gt=0)
    sigma: float = Field(ge=0)
    min: int = Field(gt=0)
    max: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self):
        if not self.min <= self.median <= self.max:
            raise ValueError("need min <= median <= max")
        return self

    def mean(self) -> float:
        """Mean of the lognormal (clamping ignored: a planning figure)."""
        return self.median * math.exp(self.sigma ** 2 / 2)


class Spike(_Model):
    multiplier: float = Field(gt=0)
    duration_s: float = Field(gt=0)


class Retry(_Model):
    timeout_s: float = Field(gt=0)
    max_attempts: int = Field(ge=1, le=50)
    base_s: float = Field(gt=0)
    cap_s: float = Field(gt=0)

    def backoff_s(self, attempt: int, uniform) -> float:
        """Capped exponential backoff with full jitter before retry number `attempt` (1, 2, ...)."""
        return uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


class OverloadGoal(_Model):
    """The spike is an overload: judge it by phase (moneypath.loadtest.command.overload)."""
    goodput_share: float = Field(gt=0, le=1, default=0.9)  # of the 1x rate (set --rate to the knee)
    recover_within_s: float = Field(ge=0, default=30)


class ScenarioFault(_Model):
    """A fault set while the scenario runs: `params` is the body of `PUT {at}/admin/faults/{name}`
    (its target, e.g. provider, and its parameters), checked against the vocabulary of the API at `at`."""
    at: Literal[WHERE]
    name: str = Field(min_length=1)
    params: dict = Field(default_factory=dict)


class Scenario(_Model):
    description: str = Field(min_length=1)
    user: Literal["checkout", "retry_storm", "healthz"] = "checkout"
    multiplier: float = Field(gt=0, default=1)
    duration_s: float | None = Field(gt=0, default=None)
    spike: Spike | None = None
    retry: Retry | None = None
    faults: list[ScenarioFault] = Field(default_factory=list)
    judge_provider: str | None = None  # latency and failure gates look at this provider only
    expect_circuit_open: str | None = None  # this provider's circuit must have opened during the run
    skip_gates: list[str] = Field(default_factory=list)
    # Sample the service through the run and judge the drift from the first minute after the warm-up to the
    # last (CPU per authorization, p99, resident memory, database bytes per payment): moneypath.loadtest.command.soak.drift
    drift: bool = False
    # Resident memory's first minute starts this far into the run when that is after the warm-up: a service's
    # bounded in-memory state (kept for a fixed time, e.g. webhook nonces for a replay window) fills first, and is
    # not drift. What it leaves out is said with the figure.
    drift_memory_warmup_s: float = Field(ge=0, default=0)
    overload: OverloadGoal | None = None
    # An end-to-end objective for a flow (a request template of several steps): the 99th percentile of the whole
    # flow, first step to last, on Locust's clock, in ms (gate flow_p99_locust). The authorization SLO judges the
    # service's own histogram; this judges what the buyer waits for.
    flow_p99_ms: float | None = Field(gt=0, default=None)

    name: str = ""

    @model_validator(mode="after")
    def _consistent(self):
        if self.overload is not None and self.spike is None:
            raise ValueError("overload needs a spike: {multiplier, duration_s} (the load past saturation)")
        if self.user == "retry_storm" and self.retry is None:
            raise ValueError("a retry_storm user needs retry: {timeout_s, max_attempts, base_s, cap_s}")
        for gate in self.skip_gates:
            if gate not in GATE_NAMES:
                raise ValueError(f"skip_gates: unknown gate {gate!r} (one of {', '.join(GATE_NAMES)})")
        return self


class ScenarioFile(_Model):
    baseline: Baseline = Baseline()
    mix: dict[str, int]
    refund_full_share: float = Field(ge=0, le=1, default=0.5)
    amount_minor: ScenarioAmounts
    currencies: dict[str, int]
    providers: dict[str, int]
    methods: dict[str, int]
    scenarios: dict[str, Scenario] = Field(min_length=1)
    # How `moneypath export loadtest` runs one of these scenarios on Kubernetes (moneypath.formats.scenario_kubernetes)
    kubernetes: KubernetesRun | None = None

    path: str = ""

    def get(self, name: str) -> Scenario:
        if name not in self.scenarios:
            raise ScenarioError(f"unknown scenario {name!r}: choose one of {', '.join(self.scenarios)} "
                                f"(defined in {self.path})")
        return self.scenarios[name]


def load(path: str | Path, catalog: Catalog | None = None) -> ScenarioFile:
    """Read and validate a scenario file; with a catalog, also check providers and currencies exist there
    and that no payout traffic is asked of a catalog whose payouts feature is off. ScenarioError names the
    first problem, in one line."""
    spec, found = problems(path, catalog)
    if found:
        raise ScenarioError(found[0])
    return spec


def problems(path: str | Path, catalog: Catalog | None = None,
             shown: str | None = None) -> tuple[ScenarioFile | None, list[str]]:
    """The scenario file at `path` (None when it cannot be read or validated) and every problem in it, one line
    each, ``<file>: <key.path>: what is wrong`` (``<file>:<line>: YAML syntax error: ...`` for YAML that does not
    parse); the file is named `shown`, else as `path` is given."""
    path = Path(path)
    name = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = yamlio.load(text)
    except FileNotFoundError:
        return None, [f"{name}: scenario file not found"]
    except yaml.YAMLError as exc:
        line = error_line(exc)
        return None, [f"{name}{f':{line}' if line else ''}: YAML syntax error: {error_text(exc)}"]
    except OSError as exc:
        return None, [f"{name}: cannot read: {str(exc).splitlines()[0]}"]
    if not isinstance(data, dict):
        return None, [f"{name}: expected a mapping with baseline, mix, ... and scenarios"]
    try:
        spec = ScenarioFile.model_validate({**data, "path": str(path)})
    except ValidationError as exc:
        # an unknown key first: a misspelt one is also why its right spelling is reported missing
        errors = sorted(exc.errors(), key=lambda err: err["type"] != "extra_forbidden")
        return None, [_problem(name, text, err) for err in errors]
    for key, scenario in spec.scenarios.items():
        scenario.name = key
    found = [f"{name}: {problem}" for problem in _check(spec, catalog)]
    if spec.kubernetes is not None and spec.kubernetes.scenario not in spec.scenarios:
        found.append(f"{located(name, text, ('kubernetes', 'scenario'))}: kubernetes.scenario: "
                     f"{spec.kubernetes.scenario!r} is not a scenario of this file ({', '.join(spec.scenarios)})")
    return spec, found


def located(name: str, text: str, loc: tuple) -> str:
    """`file:line` of a key path (or of its nearest ancestor) in the scenario file's text."""
    line = nearest_line(key_lines(text), loc)
    return f"{name}:{line}" if line else name


def _problem(name: str, text: str, err: dict) -> str:
    """`file: key.path: what`; in the kubernetes: block (read by `export`, far from a load test's run) with the
    line: `file:line: kubernetes.key: what`."""
    key = ".".join(str(p) for p in err["loc"]) or "(top)"
    if err["loc"][:1] != ("kubernetes",):
        return f"{name}: {key}: {err['msg']}"
    what = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden" and len(err["loc"]) == 2:
        what = f"unknown key{did_you_mean(str(err['loc'][1]), KubernetesRun.model_fields, VALUE_CUTOFF)}"
    return f"{located(name, text, err['loc'])}: {key}: {what}"


def _check(spec: ScenarioFile, catalog: Catalog | None) -> list[str]:
    problems = []
    for section in ("mix", "currencies", "providers", "methods"):
        weights = getattr(spec, section)
        if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
            problems.append(f"{section}: weights must be >= 0 with at least one > 0")
    if unknown := set(spec.mix) - set(ACTIONS):
        problems.append(f"mix: unknown action {sorted(unknown)[0]!r} (one of {', '.join(ACTIONS)})")
    payouts = catalog is None or catalog.enabled("payouts")
    if catalog is not None and not payouts and spec.mix.get("payout", 0) > 0:
        problems.append("mix: payout: the catalog's payouts feature is off (features.payouts: false); "
                        "give payout no weight")
    elif spec.mix.get("authorize", 0) <= 0 and (not payouts or spec.mix.get("payout", 0) <= 0):
        problems.append("mix: authorize or payout needs a positive weight (captures and refunds need payments)"
                        if payouts else "mix: authorize needs a positive weight (captures and refunds need payments)")
    if catalog is not None:
        for section, known in (("currencies", catalog.currencies), ("providers", catalog.providers)):
            for key in getattr(spec, section):
                if key not in known:
                    problems.append(f"{section}: {key!r} is not in the catalog ({', '.join(known)})")
        lat = latency_slo(catalog)
        histogram = catalog.signals.get(lat[1].sli.latency.signal) if lat else None
        methods = histogram.labels.get("method", []) if histogram is not None else []
        for key in spec.methods:
            if methods and key not in methods:
                problems.append(f"methods: {key!r} is not a method the catalog knows ({', '.join(methods)})")
        for name, scenario in spec.scenarios.items():
            for field in ("judge_provider", "expect_circuit_open"):
                value = getattr(scenario, field)
                if value is not None and value not in catalog.providers:
                    problems.append(f"scenarios.{name}.{field}: {value!r} is not a provider in the catalog")
            problems += [f"scenarios.{name}.faults.{i}: {problem}" for i, fault in enumerate(scenario.faults)
                         if (problem := _fault_problem(fault, catalog))]
    return problems


def _fault_problem(fault: ScenarioFault, catalog: Catalog) -> str | None:
    """What the fault API at `fault.at` would refuse in this fault (its own vocabulary, the catalog's targets)."""
    try:
        Faults(fault_specs(fault.at, catalog), seed=0).set(fault.name, fault.params)
    except FaultError as exc:
        return f"{fault.at}: {exc}"
    return None


# ---------------------------------------------------------------- what judges a scenario's authorizations

# The authorization histogram and counter are read from the SLOs themselves (the latency SLO's
# `signal`, the availability SLO's good/total selectors); these two keys only pick which SLOs are
# the authorization ones.
AUTHORIZATION_LATENCY = Key.AUTHORIZATION_DURATION_SECONDS
AUTHORIZATIONS = Key.AUTHORIZATIONS_TOTAL


def _slo_on(c: Catalog, signal: str, latency: bool) -> tuple[str, Slo] | None:
    """The SLO on `signal`; else, when the catalog has exactly one SLO of that kind, that one."""
    kind = [(key, slo) for key, slo in c.slos.items()
            if (slo.sli.latency is not None if latency else slo.total is not None)]
    for key, slo in kind:
        if (slo.sli.latency.signal if latency else slo.total.signal) == signal:
            return key, slo
    return kind[0] if len(kind) == 1 else None


def latency_slo(c: Catalog) -> tuple[str, Slo] | None:
    return _slo_on(c, AUTHORIZATION_LATENCY, latency=True)


def availability_slo(c: Catalog) -> tuple[str, Slo] | None:
    return _slo_on(c, AUTHORIZATIONS, latency=False)
