"""The canary judge's results, typed on moneypath._common.verdict: each metric's test (`MetricRow`), each money
invariant (`InvariantResult`), and the verdict over them (`CanaryVerdict`), aggregated by `Verdict` in one place
(`decide`). `CanaryVerdict.as_json()` is what the judge answers: the CLI's --json, the HTTP service, the canary
drill's journal.

A canary's verdict is an `Outcome`: pass, fail, or not measured, which the JSON spells "inconclusive" (the word
Argo Rollouts and Flagger branch on; exit 3). A metric's row is one of the three results too; two reasons a row
is not measured have their own word in the JSON (`MetricRow.status`): "inconclusive" (`waiting`: its sequential
test measured but needs more data, no verdict yet) and "skipped" (no traffic in either arm: shown, not judged,
its `if_not_measured` pass). A test still waiting, or anything not measured, leaves the canary's verdict not
measured; a money invariant holding is a gate passed, never evidence the release is good.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from moneypath._common.verdict import (
    EXIT_CODES,
    FAIL,
    NOT_MEASURED,
    PASS,
    Check,
    IfNotMeasured,
    Outcome,
    Verdict,
    jsonable,
    register,
)
from moneypath.canary.sequential import INCONCLUSIVE

SKIPPED = "skipped"  # the JSON's word for a row skipped (no traffic in either arm), never an outcome
ROW_STATUSES = (*Outcome, INCONCLUSIVE, SKIPPED)  # a row's words in the JSON
WORDS = {PASS: "pass", FAIL: "fail", NOT_MEASURED: "inconclusive"}  # the verdict as the JSON spells it


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


@dataclass(frozen=True)
class Arm:
    """One arm's events in the window: bad of total."""

    bad: float
    total: float
    ratio: float | None

    @classmethod
    def of(cls, bad: float, total: float) -> Arm:
        return cls(bad, total, bad / total if total else None)


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What one test compares, known before any answer: its id, the provider it is for, the test, the unit of its
    events, the metric's description, the resolved PromQL of both arms, and its settings."""

    id: str
    provider: str | None
    test: str
    unit: str
    description: str
    queries: Mapping[str, Mapping[str, str]]
    min_effect: float
    min_sample: int
    alpha: float  # the test's share of the family's alpha (Bonferroni)


@dataclass(frozen=True, kw_only=True)
class MetricRow:
    """One metric's test at this look: its outcome and why, both arms' counts, and the test's figures (effect, z,
    p-value, boundary, information, ...). No plan when the catalog lacks the metric's signals. Not measured, it
    may be `waiting` (the test needs more data) or skipped (`if_not_measured` pass: no traffic in either arm)."""

    metric: str
    outcome: Outcome
    reason: str
    plan: Plan | None = None
    canary: Arm | None = None
    baseline: Arm | None = None
    figures: Mapping[str, Any] = field(default_factory=dict)
    rate_per_s: float | None = None  # canary events per second in the window
    waiting: bool = False  # not measured: the test measured, and needs more data
    if_not_measured: IfNotMeasured = IfNotMeasured.FAIL  # pass: skipped, shown and not judged

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))  # ValueError for any fourth word
        object.__setattr__(self, "if_not_measured", IfNotMeasured(self.if_not_measured))
        if (self.waiting or self.skipped) and (self.outcome is not NOT_MEASURED or self.waiting and self.skipped):
            raise ValueError(f"{self.metric}: only a not-measured row waits or is skipped, and not both")

    @classmethod
    def of(cls, status: str, **fields: Any) -> MetricRow:
        """A row from its word: an outcome, INCONCLUSIVE (waiting) or SKIPPED (a sequential test's look says
        pass, fail or inconclusive)."""
        if status not in ROW_STATUSES:
            raise ValueError(f"a metric's status is one of {', '.join(ROW_STATUSES)}, not {status!r}")
        if status in (INCONCLUSIVE, SKIPPED):
            return cls(outcome=NOT_MEASURED, waiting=status == INCONCLUSIVE, if_not_measured=IfNotMeasured.PASS
                       if status == SKIPPED else IfNotMeasured.FAIL, **fields)
        return cls(outcome=Outcome(status), **fields)

    @property
    def skipped(self) -> bool:
        return self.outcome is NOT_MEASURED and self.if_not_measured is IfNotMeasured.PASS

    @property
    def status(self) -> str:
        """The row's word in the JSON: pass, fail, not measured, inconclusive (waiting) or skipped."""
        return SKIPPED if self.skipped else INCONCLUSIVE if self.waiting else self.outcome.value

    @property
    def id(self) -> str:
        return self.plan.id if self.plan is not None else self.metric

    @property
    def unit(self) -> str:
        return self.plan.unit if self.plan is not None else ""

    @property
    def needed_canary(self) -> int:
        return int(self.figures.get("needed_canary") or 0)

    def check(self) -> Check:
        """This test in the verdict: a test that waits for data, and one not measured, hold the verdict at not
        measured; a skipped one is shown, not judged."""
        if not (self.waiting or self.skipped):
            return Check(name=self.id, outcome=self.outcome, why=self.reason)
        return Check(name=self.id, outcome=NOT_MEASURED, why=f"{self.status}: {self.reason}",
                     if_not_measured=self.if_not_measured)

    def as_json(self) -> dict:
        out: dict[str, Any] = {"metric": self.metric}
        out.update(jsonable(self.plan) if self.plan is not None else {"provider": None})
        if self.canary is not None:
            out.update(canary=jsonable(self.canary), baseline=jsonable(self.baseline))
        out.update(jsonable(self.figures))
        out.update(status=self.status, reason=self.reason)
        if self.rate_per_s is not None:
            out["rate_per_s"] = jsonable(self.rate_per_s)
        return out


@dataclass
class InvariantResult:
    """One money invariant, a hard gate: fail at once whatever the statistics. Not judged: shown, never blocking a
    verdict (writes lost without a database)."""

    invariant: str
    description: str
    status: Outcome
    reason: str
    queries: list[str] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)
    payments: list[str] = field(default_factory=list)
    judged: bool = True

    def __post_init__(self) -> None:
        self.status = Outcome(self.status)

    def check(self) -> Check:
        return Check(name=self.invariant, outcome=self.status, why=self.reason, figures=self.values,
                     if_not_measured=IfNotMeasured.FAIL if self.judged else IfNotMeasured.PASS)


@dataclass(frozen=True)
class Needs:
    """What an inconclusive canary waits for: the test furthest from its plan."""

    canary_events: int
    unit: str
    metric: str
    seconds: int | None  # at the canary's current rate; None while it has no traffic


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str
    needs: Needs | None = None
    not_measured: tuple[str, ...] = ()  # what was not measured, the judged invariants' included
    held: bool = False  # inconclusive past max_inconclusive, and the policy holds the rollout

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))  # ValueError for any fourth word


def decide(metrics: Sequence[MetricRow], invariants: Sequence[InvariantResult], not_measured: Iterable[str] = (),
           overdue: str | None = None, on_inconclusive: str = "hold") -> Decision:
    """The verdict of one look, through `Verdict`: fail when a test or a judged invariant failed; not measured when
    something was not measured or a test still needs data; pass only when every test that had traffic passed, and
    at least one did. `overdue` (the canary is past max_inconclusive: why) fails a not-measured verdict, or holds
    it, as `on_inconclusive` says."""
    gates = [g for g in invariants if g.judged]
    lines = list(not_measured)
    for gate in gates:  # a judged invariant not measured is one more line
        if gate.status == NOT_MEASURED and gate.reason not in lines:
            lines.append(gate.reason)
    checks = [*(m.check() for m in metrics), *(g.check() for g in gates if g.status != PASS),
              *(Check(name="not measured", outcome=NOT_MEASURED, why=line) for line in lines)]
    outcome = Verdict(checks).outcome
    reason, needs = _why(outcome, metrics, gates, lines)
    if outcome is NOT_MEASURED and overdue:
        if on_inconclusive == "fail":
            policy = Check(name="max_inconclusive", outcome=FAIL, why=overdue)
            return Decision(Verdict((*checks, policy)).outcome, f"{overdue}: the policy fails it ({reason})", needs,
                            tuple(lines))
        return Decision(outcome, f"{overdue}: the policy holds the rollout ({reason})", needs, tuple(lines), held=True)
    return Decision(outcome, reason, needs, tuple(lines))


def _why(outcome: Outcome, metrics: Sequence[MetricRow], gates: Sequence[InvariantResult],
         lines: Sequence[str]) -> tuple[str, Needs | None]:
    """What failed; else what was not measured; else what passed; else what the canary waits for."""
    failed = [(m.id, m.reason) for m in metrics if m.outcome is FAIL] + \
             [(g.invariant, g.reason) for g in gates if g.status == FAIL]
    tested = [m for m in metrics if not m.skipped]
    if failed:
        return "; ".join(f"{name}: {why}" for name, why in failed), None
    if lines:
        return "; ".join(lines), None
    if outcome is PASS:
        return (f"every metric reached its planned sample without crossing its boundary ({len(tested)} tests) "
                "and every money invariant held"), None
    waiting = [m for m in tested if m.waiting]
    if not waiting:
        return "no metric could be tested: no traffic in either arm", None
    worst = max(waiting, key=lambda m: m.needed_canary)
    n, rate = worst.needed_canary, worst.rate_per_s or 0
    when = f", ~{minutes(n / rate)} at the current rate" if rate else ", and the canary has none yet"
    return (f"needs ~{n} more canary {worst.unit} ({worst.id}){when}",
            Needs(n, worst.unit, worst.id, round(n / rate) if rate else None))


def canary_outcome(metrics: Sequence[MetricRow], invariants: Sequence[InvariantResult],
                   not_measured: Iterable[str] = ()) -> Outcome:
    """A look's result in moneypath's three (the check kind the registry walks)."""
    return decide(metrics, invariants, not_measured).outcome


register("canary.verdict", canary_outcome)


@dataclass(frozen=True)
class JudgedPolicy:
    """The catalog's canary policy as the judge applied it."""

    alpha: float
    power: float
    min_sample: int
    interval: str
    max_inconclusive: str
    on_inconclusive: str


@dataclass(frozen=True, kw_only=True)
class CanaryVerdict:
    """One look of the judge: what it compared (selectors, window, Prometheus, catalog, policy), each metric's
    test, the money invariants, what was not measured, and the verdict with why (and, inconclusive, what it needs;
    `held` when the policy holds a canary inconclusive past max_inconclusive). `history`: the looks so far, for
    the report's plots."""

    outcome: Outcome
    reason: str
    canary: str
    baseline: str
    since: str | None
    at: str
    window_s: int | None
    prometheus: str
    catalog: str | None
    policy: JudgedPolicy
    metrics: tuple[MetricRow, ...] = ()
    invariants: tuple[InvariantResult, ...] = ()
    not_measured: tuple[str, ...] = ()
    needs: Needs | None = None
    held: bool = False
    history: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))
    @property
    def verdict(self) -> str:
        """pass, fail or inconclusive: the word the JSON carries."""
        return WORDS[self.outcome]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def as_json(self, history: bool = True) -> dict:
        """The judge's answer as strict JSON (no NaN: a test's z is infinite when an arm has no variance); without
        `history`, what the HTTP faces answer."""
        out = {"verdict": self.verdict, "reason": self.reason, "canary": self.canary, "baseline": self.baseline,
               "since": self.since, "at": self.at, "window_s": self.window_s, "prometheus": self.prometheus,
               "catalog": self.catalog, "policy": self.policy, "metrics": self.metrics,
               "invariants": self.invariants, "not_measured": self.not_measured, "needs": self.needs,
               "held": self.held, "history": self.history, "exit_code": self.exit_code}
        if not history:
            del out["history"]
        return jsonable(out)

