"""The drill journal: its parts as dataclasses, and the writer of journal.json.

The journal is the record of a drill run; moneypath.drills.report.rendering renders it, and `moneypath drill
report` renders it again from journal.json alone, so its shape is a contract (SCHEMA): `to_dict()`
gives exactly the keys, in the order, the report and the tests read. A part whose optional field is
None leaves that key out (an event without detail, an evidence step that never got a verdict, an
alert row with no expected labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from moneypath._common.atomic import write_json
from moneypath._common.verdict import FAIL, IF_NOT_MEASURED, PASS, Check, IfNotMeasured, Outcome, Verdict, register

if TYPE_CHECKING:  # for the annotations only: the report imports SCHEMA without the runner's dependencies
    from moneypath.drills.baseline_load import LoadStats
    from moneypath.formats.drill import FaultSpec

SCHEMA = 1

# The objectives' order in the journal and the report: the story of the drill, whatever order they were judged in.
OBJECTIVE_ORDER = ["interrupted", "headroom", "steady_state_before", "halted", "replica_down", "detected", "paged_once",
                   "watchdog", "diagnosed", "mitigated", "recovered", "no_unexpected_pages", "ledger_balanced", "money_kept",
                   "steady_state_after", "restored"]


class JournalPart:
    """A JSON object of the journal (a dataclass); to_dict() is the object as journal.json has it."""

    optional: ClassVar[tuple[str, ...]] = ()  # left out of to_dict() when None

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in self.optional:
                continue
            out[f.name] = _plain(value)
        return out

    as_json = to_dict  # what `jsonable` writes: the journal's shape, not every field


def _plain(value: Any) -> Any:
    if isinstance(value, JournalPart):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass(kw_only=True)
class Event(JournalPart):
    """A timeline entry (also a progress line)."""

    t: float
    kind: str  # phase, load, check, fault, halt, alert_firing, page, resolved, diagnosis, mitigation, answer, note
    text: str
    detail: dict | None = None
    optional = ("detail",)


@dataclass(kw_only=True)
class Objective(JournalPart):
    """A judged objective as journal.json has it (name, ok, reason, status, if_not_measured): a `Check` whose
    outcome is `status`; `ok` is derived from it (only a pass is ok), so the two cannot disagree."""

    name: str
    ok: bool = False  # it passed; derived from status when one is given (a not-measured objective is never ok)
    reason: str
    status: Outcome | str = ""  # pass | fail | not measured; "" → from ok (the journal's older shape)
    if_not_measured: IfNotMeasured = IfNotMeasured.FAIL  # fail: not measured fails the verdict; pass: shown, skipped

    def __post_init__(self):
        self.status = Outcome(self.status) if self.status else Outcome.of(bool(self.ok))
        self.if_not_measured = IfNotMeasured(self.if_not_measured)
        self.ok = self.status is PASS

    @classmethod
    def of(cls, check: Check) -> Objective:
        return cls(name=check.name, reason=check.why, status=check.outcome, if_not_measured=check.if_not_measured)

    @classmethod
    def read(cls, part: dict) -> Objective:
        """An objective from journal.json, old or new (no status: from ok; an unknown word: a fail)."""
        status = part.get("status")
        policy = part.get("if_not_measured")
        return cls(name=str(part.get("name") or ""), ok=part.get("ok") is True, reason=str(part.get("reason") or ""),
                   status=status if status in tuple(Outcome) else FAIL if status else "",
                   if_not_measured=policy if policy in IF_NOT_MEASURED else IfNotMeasured.FAIL)

    @property
    def check(self) -> Check:
        return Check(name=self.name, outcome=Outcome(self.status), why=self.reason,
                     if_not_measured=self.if_not_measured)


@dataclass(kw_only=True)
class FaultRecord(JournalPart):
    """The fault as declared, and when it was injected, cleared or halted (None: not, or no fault)."""

    where: str | None
    name: str | None
    params: dict
    target: str | None
    injected_at: float | None = None
    cleared_at: float | None = None
    halted: str | None = None  # the reason the drill was stopped: a halt condition or the blast-radius cap

    @classmethod
    def of(cls, fault: FaultSpec | None) -> FaultRecord:
        if fault is None:
            return cls(where=None, name=None, params={}, target=None)
        return cls(where=fault.where, name=fault.name, params=dict(fault.params), target=fault.target)


@dataclass(kw_only=True)
class AlertRow(JournalPart):
    """One alert of the alert matrix: expected (with its labels and deadline), allowed, must_not_page or unexpected."""

    alert: str
    labels: dict[str, str] | None = None  # expected rows only
    expectation: str
    deadline_s: float | None
    first_firing_at: float | None
    paged_at: float | None
    resolved_at: float | None
    receivers: list[str]
    ok: bool
    reason: str
    optional = ("labels",)


@dataclass(kw_only=True)
class EvidenceStep(JournalPart):
    """A runbook diagnosis step as last run: its query, what it returned and whether that is the evidence."""

    step: str
    kind: str  # promql | sql
    query: str
    expect: str
    at: float
    result: str
    ok: bool | None  # None: not measured (it returned nothing to judge, or could not run)
    reason: str | None = None  # absent when the step could not run (no database, a failing query)
    window: str | None = None  # how its query was held to the drill's window (moneypath.generate.windows)
    optional = ("reason", "window")

    @property
    def check(self) -> Check:
        return Check(name=self.step, outcome=Outcome.of(self.ok), why=self.reason or self.result)


@dataclass(kw_only=True)
class Timings(JournalPart):
    """Seconds from the fault injection (None: it did not happen)."""

    detect_s: float | None
    page_s: float | None
    diagnose_s: float | None
    recover_s: float | None


# what "payments affected" counts (moneypath.drills.money.affected_payments), said wherever the figure is shown
PAYMENTS_AFFECTED = ("payments started while the fault was on (plus a settling margin) that did not get through (no "
                     "2xx after retries, or the capture failed) or whose answer the request template flags (held, "
                     "declined as fraud...), plus every payment a reconciliation break found since the drill started")


@dataclass(kw_only=True)
class MoneyImpact(JournalPart):
    payments_affected: int  # PAYMENTS_AFFECTED
    duplicate_amount_minor: dict[str, int]
    unreconciled_minor: dict[str, int] | None  # None: not checked (why in not_checked)
    writes_lost: int | None  # None: not checked (why in not_checked)
    acknowledged_payments: int
    acknowledged_captures: int
    payments_refused: int = 0  # of the affected: refused by the service (429/503 + Retry-After), never acknowledged
    not_checked: dict[str, str] = field(default_factory=dict)  # measure (unreconciled, writes_lost, duplicates) → why


@dataclass(kw_only=True)
class LoadSummary(JournalPart):
    rate: float
    peak: float | None
    started: int
    acknowledged: int
    failed: int
    captured: int
    behind: int
    statuses: dict[str, int]
    refused: int = 0  # of the failed: the service refused them (429/503 + Retry-After); nothing was acknowledged
    flow: str = "payment"  # what one flow of the template is called (checkout): the rates count these
    steps: dict[str, dict[str, int]] = field(default_factory=dict)  # step → {"sent": n, "failed": n}
    failures: dict[str, int] = field(default_factory=dict)  # "<step>: <reason>" → flows that failed so
    most_in_flight: int = 0
    in_flight_cap: int = 0
    answered: int = 0  # flows answered 2xx with an id, whatever the state (a decline too): acknowledged or not

    @classmethod
    def of(cls, rate: float, peak: float | None, stats: LoadStats, flow: str = "payment",
           in_flight_cap: int = 0, acknowledged: int | None = None) -> LoadSummary:
        """`acknowledged`: the money line's count (moneypath.drills.money.acknowledged: 2xx in an approved state),
        so that one report gives the word one meaning; the load's 2xx answers are `answered`."""
        return cls(rate=rate, peak=peak, started=stats.started,
                   acknowledged=stats.acknowledged if acknowledged is None else acknowledged, failed=stats.failed,
                   captured=stats.captured, behind=stats.behind, statuses=dict(stats.statuses), refused=stats.refused,
                   flow=flow, steps={k: dict(v) for k, v in stats.steps.items()}, failures=dict(stats.failures),
                   most_in_flight=stats.most_in_flight, in_flight_cap=in_flight_cap, answered=stats.acknowledged)


@dataclass(kw_only=True)
class RegulatoryDue(JournalPart):
    regime: str
    basis: str
    due_at: float | None
    applies: str


@dataclass(kw_only=True)
class JudgedTolerance(JournalPart):
    """One impact tolerance of the business service the drill exercises, against the drill's own measure."""

    name: str  # disruption | value_held_up
    limit: str
    measured: str
    status: Outcome  # pass (within) | fail (beyond) | not measured
    reason: str

    def __post_init__(self):
        self.status = Outcome(self.status)

    @property
    def check(self) -> Check:
        return Check(name=self.name, outcome=self.status, why=self.reason)


@dataclass(kw_only=True)
class Impact(JournalPart):
    """Whether the scenario stayed within its business service's impact tolerances, and the DORA classification it
    would have had (moneypath.drills.tolerance); the drill history's `impact` field."""

    service: str | None  # the drill file's business_service (None: it names none)
    within_tolerance: Outcome  # pass | fail | not measured (moneypath.drills.tolerance.within)
    reason: str
    tolerances: list[JudgedTolerance] = field(default_factory=list)
    classification: dict | None = None  # moneypath.check.classification.Classification.to_dict()
    real_time_factor: float = 1.0  # drill seconds × this = the real time the scenario stands for


@dataclass(kw_only=True)
class SeriesPanel(JournalPart):
    """A plot's data: the query, its unit and its points per series (a range query over the drill); `not_data`:
    why its rates are not the run's (the conservation of counts, counters gone backwards), shown with it."""

    query: str
    unit: str
    points: dict
    not_data: str | None = None
    optional = ("not_data",)


@dataclass(kw_only=True)
class Reconciliation(JournalPart):
    """One stretch's conservation of counts on one address (moneypath.drills.conservation_phase): its outcome and
    the line every report prints (moneypath.check.conservation.reconcile), with the figures."""

    phase: str  # baseline | fault | peak
    target: str  # host:port
    status: str  # pass | fail | not measured
    line: str
    figures: dict = field(default_factory=dict)


@dataclass(kw_only=True)
class ReplicaRecord(JournalPart):
    """A monitoring replica killed mid-incident (replica_down): when, its heartbeat at the pager, its restart."""

    component: str
    replica: str
    part: str  # the stack's part, e.g. prometheus-b
    after_s: float  # planned: seconds after the fault went on
    pid: int | None = None
    killed_at: float | None = None
    error: str | None = None  # why it was not killed (or not restarted)
    last_beat_at: float | None = None  # its last heartbeat at the pager (Prometheus only)
    late_at: float | None = None  # when the pager first showed its heartbeat late
    restarted_at: float | None = None  # ready again
    beat_again_at: float | None = None  # its heartbeat back at the pager after the restart
    restore: str | None = None  # how to bring it back, when the runner could not


@dataclass(kw_only=True)
class GroupPages(JournalPart):
    """The notifications of one alert group to one receiver during the drill, and the repeats among them."""

    alert: str
    labels: dict[str, str]
    receiver: str
    group: str  # Alertmanager's group key
    firing: int  # notifications carrying the alert firing
    duplicates: list[float]  # when a notification repeated the one before it within the repeat interval
    expected: bool
    paged_s: float | None = None  # expected groups: first page after the fault
    single_stack_s: float | None = None  # the drill's page_within (the deadline on one Prometheus, one Alertmanager)
    allowed_s: float | None = None  # with a replica down: plus one evaluation interval


@dataclass(kw_only=True)
class HeartbeatReading(JournalPart):
    """A Prometheus replica's heartbeat at the pager: as it should be (a killed one's stopped, a survivor's kept
    beating) or not, and what the pager showed."""

    ok: bool
    text: str


@dataclass(kw_only=True)
class HaRecord(JournalPart):
    """What a drill with replica_down adds: the kills, the pages per alert group, the heartbeats."""

    evaluation_interval_s: float
    repeat_interval_s: float  # a repeat sooner than this is a duplicate, later it is Alertmanager's repeat
    kills: list[ReplicaRecord]
    groups: list[GroupPages]
    watchdog_timeout_s: float | None = None
    heartbeats: dict[str, HeartbeatReading] = field(default_factory=dict)  # per Prometheus replica


@dataclass(kw_only=True)
class Journal(JournalPart):
    schema: int = SCHEMA
    drill: str
    file: str
    title: str
    runbook: str
    root: str  # the repository root, where the runbook link in the report resolves
    alert: str
    narrative: str
    target: dict
    time_factor: float
    duration_scale: float
    started_at: float
    finished_at: float
    fault: FaultRecord
    classification_at: float | None  # the first expected page
    awareness_at: float | None  # the first expected alert firing, else the classification
    already_firing: list[str] = field(default_factory=list)  # alerts firing or paged before the fault: not clean
    timeline: list[Event]
    objectives: list[Objective]
    timings: Timings
    money: MoneyImpact
    writes_lost_detail: list[str]
    alerts: list[AlertRow]
    evidence: list[EvidenceStep]
    roles: list[dict]  # moneypath.drills.tabletop's entries
    regulatory: list[RegulatoryDue]
    series: dict[str, SeriesPanel]
    load: LoadSummary
    conservation: list[Reconciliation] = field(default_factory=list)  # each stretch's sent against counted
    pages_source: str
    interrupted: bool
    verdict: str  # pass | fail | not measured
    controls: list[str] = field(default_factory=list)  # the drill file's controls: the history record copies them
    ha: HaRecord | None = None  # a drill that killed monitoring replicas (replica_down)
    impact: Impact | None = None  # tolerances and DORA classification of the scenario (the history's `impact`)
    optional = ("ha", "impact")


def objectives_verdict(objectives: list[Objective]) -> Outcome:
    """pass, fail, or not measured (a not-measured objective that fails its verdict, none failed); no
    objective at all is a fail: the run stopped before it judged anything."""
    if not objectives:
        return FAIL
    return Verdict(tuple(o.check for o in objectives)).outcome


register("drills.objectives", objectives_verdict)


def order_objectives(objectives: list[Objective]) -> None:
    objectives.sort(key=lambda o: OBJECTIVE_ORDER.index(o.name) if o.name in OBJECTIVE_ORDER else len(OBJECTIVE_ORDER))


def write_journal(journal: dict, reports_dir: Path) -> Path:
    """reports/<drill>-<YYYYmmdd-HHMMSS>/journal.json, written atomically (a reader never sees half of it)."""
    stamp = datetime.fromtimestamp(journal["started_at"], UTC).strftime("%Y%m%d-%H%M%S")
    out = reports_dir / f"{journal['drill']}-{stamp}"
    n = 1
    while out.exists():  # two runs in one second do not overwrite each other
        n += 1
        out = reports_dir / f"{journal['drill']}-{stamp}-{n}"
    out.mkdir(parents=True)
    write_json(out / "journal.json", journal, indent=1, allow_nan=False, default=str)
    return out / "journal.json"
