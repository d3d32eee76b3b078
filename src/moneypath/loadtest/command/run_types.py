"""What a load-test run is given and what it yields: its target, its spec, its outcome, its judged result (result.json
as a type); and its one-line error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moneypath._common.verdict import Outcome, Verdict
from moneypath.formats import scenarios
from moneypath.loadtest.command import gates as g
from moneypath.loadtest.command.stats import Summary


class LoadTestError(Exception):
    """The run could not be made (not a gate breach); one line."""


@dataclass
class LoadTarget:
    """Where the load goes and how to authenticate; `owned` stacks are stopped afterwards."""
    host: str
    prometheus: str | None
    providersim: str | None
    token: str | None  # None: requests go without an authorization header (--no-auth)
    admin_token: str | None
    faultproxy: str | None = None
    state_dir: Path | None = None
    owned: bool = False
    reloaded_prometheus: bool = False  # we added the exporter to this stack's Prometheus config
    instances: tuple[str, ...] = ()  # the service's other instances: Locust users are spread over host + these
    shared: bool = False  # it serves traffic of its own (the run config): the reconciliation of counts is one-sided


@dataclass
class LoadTestSpec:
    scenario: str
    rate: float | None = None
    users: int | None = None
    duration_s: float | None = None
    workers: int = 0
    reconcile_within_s: float = 60.0
    scenario_file: Path | None = None
    locustfile: Path | None = None  # run() needs one; locust_invocation() is given its own
    only_gates: tuple[str, ...] | None = None  # judge only these (capacity steps); the rest are skipped
    require_prometheus: bool = True  # False (--no-prometheus): the gates that need it are skipped, not failed
    closed_loop: bool = False  # users send back to back, unpaced: the saturation throughput (capacity)
    bind: str | None = None  # HOST:PORT: the master listens there for `workers` started elsewhere, starting none
    wait_workers_s: float = 120.0  # how long a master with `bind` waits for them
    runs_follow: bool = False  # another run follows on the same workers (capacity's steps): they wait for it


@dataclass
class RunOutcome:
    scenario: scenarios.Scenario
    spec: LoadTestSpec
    rate: float
    users: int
    duration_s: float
    started_at: float
    ended_at: float
    summary: Summary
    prom: g.PromObservations | None
    prom_reason: str
    gates: list[g.Gate]
    work_dir: Path
    service_series: dict = field(default_factory=dict)
    ticks: list = field(default_factory=list)
    usage: object = None  # resources.Usage when a meter was given
    drift: object = None  # drift.Drift when the scenario asks for it (`drift: true`)
    overload: object = None  # overload.Overload when the scenario is one (`overload:`)
    rate_unit: str = g.REQUESTS_PER_S  # what `rate` counts (launch.rate_unit): requests/s or flows/s
    generator: object = None  # worker_health.WorkerHealth: the load generator's workers, losses and bottleneck
    conservation: object = None  # the reconciliation's Check (moneypath.loadtest.command.counts); None: not read

    @property
    def passed(self) -> bool:
        return not g.breaches(self.gates)


@dataclass
class LoadTestResult:
    """A judged run: the runner's figures (result.json's keys before its gates, as the runner measured them), its
    gates as `Gate`s, and what the run added; the verdict, the breaches and the skipped gates come from the gates'
    checks (`Verdict`). `as_json()` is result.json, the one place gates become its dicts (`Gate.to_dict`)."""

    figures: dict[str, Any]
    gates: list[g.Gate]
    p99_threshold_ms: float | None = None
    drift: dict | None = None  # Drift.to_dict() when the scenario asks for it
    overload: dict | None = None  # Overload.to_dict() when the scenario is one
    baseline: str | None = None  # the baseline result.json compared against

    @property
    def verdict(self) -> Verdict:
        return Verdict(tuple(gt.check for gt in self.gates))

    @property
    def outcome(self) -> Outcome:
        """pass | fail | not measured (exit 0, 1, 3)."""
        return self.verdict.outcome

    @property
    def breaches(self) -> list[str]:
        """One line per gate that fails the run or leaves it not measured (a skip is neither)."""
        return [gt.reason for gt, check in zip(self.gates, self.verdict.checks, strict=True) if check.breach]

    @property
    def passed(self) -> bool:
        return not self.breaches

    @property
    def skipped(self) -> list[g.Gate]:
        """The gates shown and not judged."""
        return [gt for gt, check in zip(self.gates, self.verdict.checks, strict=True) if check.skipped]

    @property
    def feature_skips(self) -> list[str]:
        """'<gate title> (feature X is off)' for each gate skipped because its feature is off."""
        return g.feature_skips(self.skipped)

    def as_json(self) -> dict[str, Any]:
        """result.json: the figures, the gates, breaches and passed, what the run added, and the verdict."""
        out = {**self.figures, "gates": [gt.to_dict() for gt in self.gates], "breaches": self.breaches,
               "passed": self.passed, "p99_threshold_ms": self.p99_threshold_ms}
        for key in ("drift", "overload", "baseline"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out | {"verdict": self.outcome}


# ---------------------------------------------------------------- the target
