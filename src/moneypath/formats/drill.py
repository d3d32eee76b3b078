"""Drill files (runbooks/drills/*.yaml): the model and its parsing.

`read_drill(path, root)` returns a `Drill` or raises `DrillError` whose `problems` are one line each,
``runbooks/drills/x.yaml: key.path: what is wrong`` (the same shape as the runbook lint). What a drill names
(alerts, faults, providers, runbook steps) is checked against the catalog by moneypath.check.drill_files.

Times in a drill file are durations ("30s", "2m") or plain seconds, written for the local drill
stack (rules compressed by `LOCAL_TIME_FACTOR`, see moneypath.generate.compress); the runner stretches
them, and the ranges in the drill's own PromQL, when it targets rules compressed less.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, field_validator, model_validator

from moneypath._common import yamlio
from moneypath._common.strict import StrictModel
from moneypath._common.verdict import IfNotMeasured
from moneypath.catalog import duration_seconds as parse_duration
from moneypath.catalog.load import key_lines
from moneypath.catalog.matchers import did_you_mean
from moneypath.catalog.yaml_errors import FILE, error_line, error_text
from moneypath.formats.controls import CONTROLS
from moneypath.formats.drill_errors import LOADER_FIELDS, lined, lined_error, problem
from moneypath.formats.expect import Expect
from moneypath.formats.requests import HTTP_METHODS, Requests

DRILL_DIR = "runbooks/drills"
LOCAL_TIME_FACTOR = 60  # the drill stack runs the rules this much faster: 5m windows are 5 s, for: 2m is 10 s
DEFAULT_CONCURRENCY_MIN, DEFAULT_CONCURRENCY_MAX = 16, 64  # a drill's flows in flight without load.concurrency
ROLES = ("engineering", "operations", "compliance", "customer_support")


class DrillError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _seconds(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_duration(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a duration (e.g. 30s, 2m, 4h)") from None
    return value


Seconds = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]
Expectations = Annotated[list[Expect], BeforeValidator(lambda v: [v] if isinstance(v, dict) else v),
                         Field(min_length=1)]


# The money checks a drill's money objective runs, by the name `money_expect:` gives them, and the catalog's
# money_checks query each one needs.
MONEY_CHECK_QUERIES = {"stored": "payments", "captured_once": "capture_counts", "refunds_within_captures": "refunds"}
MONEY_CHECKS = tuple(MONEY_CHECK_QUERIES)
# The money objective's checks `if_not_measured:` may skip and `money_expect:` may expect to fail, by name: the
# three above, and "duplicates" (no money charged twice, its detector seen running).
SKIPPABLE_MONEY_CHECKS = (*MONEY_CHECKS, "duplicates")
MoneyExpectation = Literal["pass", "fail"]
# The objectives a drill judges (moneypath.drills.journal.OBJECTIVE_ORDER, runner and tabletop included): the
# names `if_not_measured:` may give.
OBJECTIVES = ("interrupted", "runner", "headroom", "steady_state_before", "halted", "replica_down", "detected", "paged_once",
              "watchdog", "diagnosed", "mitigated", "recovered", "no_unexpected_pages", "ledger_balanced",
              "money_kept", "steady_state_after", "restored", "tabletop")


def _control(value: str) -> str:
    if value not in CONTROLS:
        raise ValueError(f"{value!r} is not a control{did_you_mean(value, list(CONTROLS))} (controls: "
                         f"{', '.join(CONTROLS)})")
    return value


ControlId = Annotated[str, AfterValidator(_control)]


class CheckSpec(StrictModel):
    """A PromQL query and what its result must look like."""

    name: str = Field(min_length=1)
    promql: str = Field(min_length=1)
    expect: Expectations
    if_not_measured: IfNotMeasured = IfNotMeasured.FAIL


class AmountsSpec(StrictModel):
    min: int = Field(gt=0)
    max: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min > self.max:
            raise ValueError("min must not be larger than max")
        return self


class Headroom(StrictModel):
    """Measure first that the target carries the peak (moneypath.drills.headroom): a peak past the machine's
    capacity tests the machine, not the alerting. The probe asks `spare` more than the peak for `probe` seconds
    with at most `in_flight` payments in flight (below the admission limit: it finds capacity without being
    refused); the peak scales down to what was served, never below `min_multiple` x the baseline."""

    probe: Seconds = Field(default=3.0, le=10)
    in_flight: int = Field(default=24, ge=1, le=64)
    spare: float = Field(default=0.25, ge=0, le=1)  # asked beyond the peak, and kept free when the peak scales
    min_multiple: float = Field(default=5.0, gt=1)  # the least peak, in baselines: below it, not measured


class Peak(StrictModel):
    rate: float = Field(gt=0, le=2000)
    duration: Seconds
    headroom: Headroom | None = None  # probe the target's headroom before the baseline (drills without a fault)


class LoadSpec(StrictModel):
    rate: float = Field(gt=0, le=2000, description="payments per second")
    baseline: Seconds  # load before the fault (or the peak)
    capture: float = Field(default=0.8, ge=0, le=1)  # share of authorized payments captured
    providers: dict[str, float] = Field(min_length=1)  # provider → weight
    currencies: dict[str, float] = Field(min_length=1)  # currency → weight
    methods: dict[str, float] = Field(default_factory=lambda: {"card": 1.0})
    # minor units the load asks for; None: the target prices the payment itself (a checkout of catalog items), and
    # the template names no amount placeholder (moneypath.check.drill_files refuses one that does)
    amounts: AmountsSpec | None = None
    concurrency: int | None = Field(default=None, ge=1, le=1000)  # flows in flight at most; None: see in_flight_cap
    peak: Peak | None = None  # raise the rate after the baseline (with the fault, if any)
    requests: Requests  # inline, or a file path (relative to the drill file) holding the mapping

    @property
    def amount_range(self) -> tuple[int, int]:
        """(min, max) minor units for the load's payments; (0, 0) when the target prices them (never sent: the
        template has no amount placeholder, and the drill reports no amount it does not know)."""
        return (self.amounts.min, self.amounts.max) if self.amounts is not None else (0, 0)

    def amount_placeholders(self) -> list[str]:
        """The amount placeholders ({amount_minor}, {amount_major}) the request template sends."""
        from moneypath.formats.requests import placeholders

        calls = [*self.requests.steps, *(c for c in (self.requests.capture, self.requests.read) if c is not None)]
        used = set().union(*(placeholders([c.path, c.headers, c.json_body]) for c in calls))
        return [p for p in ("amount_minor", "amount_major") if p in used]

    @property
    def in_flight_cap(self) -> int:
        """The most flows in flight at once: `concurrency`, else four seconds of the drill's highest rate between
        DEFAULT_CONCURRENCY_MIN and DEFAULT_CONCURRENCY_MAX; never above the template's own `concurrency` (what
        the team's service bears, its database's connections included)."""
        highest = max(self.rate, self.peak.rate if self.peak else 0.0)
        cap = self.concurrency or min(DEFAULT_CONCURRENCY_MAX, max(DEFAULT_CONCURRENCY_MIN, math.ceil(4 * highest)))
        return min(cap, self.requests.concurrency or cap)

    @field_validator("providers", "currencies", "methods")
    @classmethod
    def _weights(cls, v: dict) -> dict:
        if any(w < 0 for w in v.values()) or not any(w > 0 for w in v.values()):
            raise ValueError("weights must not be negative and at least one must be positive")
        return v

    @model_validator(mode="after")
    def _capture_needs_a_call(self):
        if self.capture > 0 and self.requests.capture is None:
            raise ValueError("capture: a share above 0 needs requests.capture (or set capture: 0)")
        return self


class Cap(StrictModel):
    """Blast radius: the fault is cleared as soon as one is exceeded."""

    payments_affected: int | None = Field(default=None, ge=1)
    duplicate_minor: int | None = Field(default=None, ge=1)  # in any one currency


class Hook(StrictModel):
    """An HTTP call to the team's own fault switch (a feature flag, a chaos tool's API); ${NAME} in the URL,
    headers and body is read from the environment when the drill runs."""

    method: HTTP_METHODS = "POST"
    url: str = Field(pattern=r"^(https?://|\$\{)")
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    expect_status: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])


class FaultSpec(StrictModel):
    where: Literal["faultproxy", "providersim", "service", "hook"]
    name: str = Field(min_length=1)  # the fault API's fault; for a hook, what the report calls it
    target: str | None = None  # provider (proxy and simulator faults) or queue (consumer_failure)
    params: dict[str, Any] = Field(default_factory=dict)
    set: Hook | None = None  # where: hook
    clear: Hook | None = None  # where: hook
    after: Seconds = 0.0  # wait after the steady-state check before injecting
    duration: Seconds  # the longest the fault stays; mitigation clears it earlier
    cap: Cap = Field(default_factory=Cap)
    halt_when: list[CheckSpec] = Field(default_factory=list)  # clear the fault at once when any holds

    @model_validator(mode="after")
    def _hook_or_api(self):
        if self.where == "hook":
            if self.set is None or self.clear is None:
                raise ValueError("a hook fault needs set and clear (the calls that switch it on and off)")
            if self.params:
                raise ValueError("params: a hook fault carries its parameters in set (url, json)")
        elif self.set is not None or self.clear is not None:
            raise ValueError(f"set/clear: only for where: hook ({self.where} faults go through its fault API)")
        return self


class ExpectedAlert(StrictModel):
    alert: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    page_within: Seconds  # from fault injection to the page at the pager
    receivers: list[str] | None = None  # default: who the catalog's routing pages for this alert


class Alerts(StrictModel):
    expected: list[ExpectedAlert] = Field(default_factory=list)
    allowed: list[str] = Field(default_factory=list)  # may page as a consequence; not judged
    must_not_page: list[str] = Field(default_factory=list)  # "*" = every alert not expected or allowed


class StepSpec(StrictModel):
    step: str = Field(min_length=1)  # the `name` of a diagnosis step in the runbook's front matter
    expect: Expectations
    if_not_measured: IfNotMeasured = IfNotMeasured.FAIL


class DiagnosisSpec(StrictModel):
    within: Seconds  # from the first expected page (or from injection) until every step holds
    steps: list[StepSpec] = Field(min_length=1)


class Action(StrictModel):
    """A remediation through an API: `where` (the service, the simulator or the fault proxy) and a path,
    e.g. POST {service}/admin/..., or a whole `url` (${NAME} read from the environment)."""

    name: str = Field(min_length=1)
    where: Literal["service", "providersim", "faultproxy"] | None = None
    method: Literal["POST", "PUT", "DELETE"]
    path: str | None = Field(default=None, pattern=r"^/")
    url: str | None = Field(default=None, pattern=r"^(https?://|\$\{)")
    json_body: dict[str, Any] | None = Field(default=None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    expect_status: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])

    @model_validator(mode="after")
    def _where(self):
        if (self.url is None) == (self.where is None or self.path is None):
            raise ValueError("give either where and path, or url")
        return self


class ReplicaDown(StrictModel):
    """Mid-incident, one replica of the monitoring pair dies (SIGKILL, as a crash): the drill judges that every
    expected page still arrives, once per alert group, and that the watchdog shows the dead replica. Needs the
    HA stack (`MONEYPATH_HA=1 moneypath drill run`); the runner restarts the replica when the drill ends."""

    component: str  # HA_COMPONENTS: checked against the catalog's conventions, with a did-you-mean
    replica: str  # HA_REPLICAS: a or b (the replica label; for alertmanager its first or second node)
    after: Seconds = 0.0  # after the fault went on; before its duration ends


class Mitigation(StrictModel):
    clear_fault: bool = True
    actions: list[Action] = Field(default_factory=list)


class Recovery(StrictModel):
    within: Seconds  # from mitigation
    checks: list[CheckSpec] = Field(min_length=1)
    alerts_resolved: bool = False  # also require the expected alerts to stop firing within the deadline


class Plot(StrictModel):
    title: str = Field(min_length=1)
    promql: str = Field(min_length=1)
    unit: str = "short"


class RoleCard(StrictModel):
    checkpoint: str = Field(min_length=1)
    due: Seconds  # after classification, e.g. 15m


class RegulatoryClockSpec(StrictModel):
    regime: str = Field(min_length=1)
    hours: float | None = Field(default=None, gt=0)  # None: "without undue delay" per the plan
    start: Literal["classification", "awareness"] = "classification"
    applies: str = Field(min_length=1)


class Tabletop(StrictModel):
    narrative: str = Field(min_length=1)
    roles: dict[str, RoleCard]
    regulatory: list[RegulatoryClockSpec] = Field(default_factory=list)

    @field_validator("roles")
    @classmethod
    def _four_roles(cls, roles: dict) -> dict:
        missing = [r for r in ROLES if r not in roles]
        if missing:
            raise ValueError(f"every drill gives a card to {', '.join(ROLES)}; missing: {', '.join(missing)}")
        return roles


class Drill(StrictModel):
    title: str = Field(min_length=1)
    runbook: str = Field(min_length=1)  # the alert whose runbook page this drill rehearses
    load: LoadSpec | None = None  # None: a tabletop drill (what `moneypath init` writes until a fault is wired)
    steady_state: list[CheckSpec] = Field(default_factory=list)
    steady_state_within: Seconds = 30.0  # how long the steady state may take to hold, before and after
    fault: FaultSpec | None = None
    replica_down: list[ReplicaDown] = Field(default_factory=list)  # needs --ha: kill monitoring replicas mid-incident
    alerts: Alerts = Field(default_factory=Alerts)
    diagnosis: DiagnosisSpec
    mitigation: Mitigation = Field(default_factory=Mitigation)
    recovery: Recovery | None = None
    plots: list[Plot] = Field(default_factory=list)
    tabletop: Tabletop
    # objective → fail (default) or pass: whether that objective resting on what was not measured fails the drill
    if_not_measured: dict[str, IfNotMeasured] = Field(default_factory=dict)
    # money check → pass (default) or fail: a drill whose fault takes money (a duplicate capture) expects the check
    # that must see it to fail, and passes only when it does
    money_expect: dict[str, MoneyExpectation] = Field(default_factory=dict)
    controls: list[ControlId] = Field(default_factory=list)  # what the run is evidence of (formats.controls)
    business_service: str | None = None  # the catalog's business_services entry whose impact tolerances it tests

    @field_validator("money_expect", "if_not_measured")
    @classmethod
    def _known_names(cls, v: dict, info) -> dict:
        names, what = ((SKIPPABLE_MONEY_CHECKS, "a money check") if info.field_name == "money_expect"
                       else ((*OBJECTIVES, *SKIPPABLE_MONEY_CHECKS), "an objective or money check"))
        for name in v:
            if name not in names:
                raise ValueError(f"{name!r} is not {what}{did_you_mean(name, names)} "
                                 f"({what.split(' ', 1)[1].replace(' or ', 's or ')}s: {', '.join(names)})")
        return v

    # filled in by load_drill
    name: str = ""
    path: str = ""
    runbook_alert: str = ""
    runbook_page: str = ""
    runbook_steps: dict[str, dict] = Field(default_factory=dict)

    @property
    def tabletop_only(self) -> bool:
        return self.load is None

    @model_validator(mode="after")
    def _shape(self):
        if self.load is None:
            if self.fault is not None:
                raise ValueError("a drill with a fault needs load (the payments the fault hits)")
            return self
        if not self.steady_state:
            raise ValueError("a drill with load needs steady_state (at least one check)")
        if self.fault is None and self.load.peak is None:
            raise ValueError("a drill without a fault needs load.peak (what it watches)")
        if self.fault is not None and self.load.peak is not None and self.load.peak.headroom is not None:
            raise ValueError("load.peak.headroom is for a drill without a fault (a fault's peak may exceed capacity)")
        if self.fault is not None and self.recovery is None:
            raise ValueError("a drill with a fault needs recovery (deadline and checks)")
        return self


# ---------------------------------------------------------------- parsing


def rel_path(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def read_drill(path: Path, root: Path = Path(".")) -> Drill:
    """Parse and validate a drill file, its name and path filled in; DrillError otherwise."""
    rel = rel_path(Path(path), Path(root))
    doc = _read_yaml(Path(path), f"{rel}: {FILE}")
    if not isinstance(doc, dict):
        raise DrillError([f"{rel}: {FILE}: a drill file is a YAML mapping (title, runbook, load, ...)"])
    for key in LOADER_FIELDS:
        if key in doc:
            raise DrillError([f"{rel}: {key}: set by the loader, not in the file"])
    load = doc.get("load")
    requests_at = None  # (its path as the problems name it, its text) when load.requests is a file
    if isinstance(load, dict) and isinstance(load.get("requests"), str):
        file = Path(path).parent / load["requests"]
        load["requests"] = _requests_file(file, rel, Path(root))
        requests_at = (rel_path(file, Path(root)), file.read_text(encoding="utf-8"))
    try:
        drill = Drill.model_validate(doc)
    except ValidationError as e:
        lines = key_lines(Path(path).read_text(encoding="utf-8"))
        raise DrillError([lined_error(rel, lines, err, Drill) if lined(err["loc"])
                          else problem(rel, err, doc, Path(path), requests_at, Drill, lines)
                          for err in e.errors()]) from None
    drill.name, drill.path = Path(path).stem, rel
    return drill


def _requests_file(path: Path, rel: str, root: Path) -> dict:
    """A load.requests file (shared by the drills of one service): its mapping, or DrillError naming it."""
    where = f"{rel}: load.requests: {rel_path(path, root)}"
    doc = _read_yaml(path, where)
    if not isinstance(doc, dict):
        raise DrillError([f"{where}: a mapping (auth, authorize, approved, capture, read)"])
    return doc


def _read_yaml(path: Path, where: str):
    """A YAML file's document, or DrillError: one line starting with `where`."""
    try:
        return yamlio.load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DrillError([f"{where}: no such file"]) from None
    except OSError as e:
        raise DrillError([f"{where}: cannot be read: {e.strerror or e}"]) from None
    except yaml.YAMLError as e:
        line = error_line(e)
        raise DrillError([f"{where}: not valid YAML{f' at line {line}' if line else ''}: {error_text(e)}"]) from None


def drill_files(root: Path) -> list[Path]:
    """The incident drills under `root` (a canary drill file, `kind: canary`, is moneypath.canary.drill_file's)."""
    return sorted(p for p in (Path(root) / DRILL_DIR).glob("*.yaml") if file_kind(p) is None)


def canary_drill_files(root: Path) -> list[Path]:
    return sorted(p for p in (Path(root) / DRILL_DIR).glob("*.yaml") if file_kind(p) == "canary")


def file_kind(path: Path) -> str | None:
    """A drill file's top-level `kind` (None for an incident drill, or a file that cannot be read: its reader says
    why)."""
    try:
        doc = yamlio.load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return doc.get("kind") if isinstance(doc, dict) and isinstance(doc.get("kind"), str) else None


def needs_ha(drill: Drill) -> bool:
    return bool(drill.replica_down)


def ha_problem(drill: Drill, ha: bool, own_stack: bool = True) -> str | None:
    """One line when the drill kills a monitoring replica but its stack is not an HA pair whose processes the
    drill knows: the stack it starts with --ha, or (`own_stack` False: --target-*) one `moneypath up --ha`
    recorded in the state directory, `ha` True when it is that stack; else None."""
    if not needs_ha(drill) or ha:
        return None
    if not own_stack:
        return (f"{drill.path}: replica_down: with --target-* it kills only a replica of the stack `moneypath up "
                "--ha` recorded in --state-dir (its stack.json), whose Prometheus is --target-prometheus; there is "
                "none: start it so, or run the drill without --target-* and with MONEYPATH_HA=1")
    return (f"{drill.path}: replica_down: kills a replica of the monitoring pair, which only the HA stack has: "
            f"run it on one (MONEYPATH_HA=1 moneypath drill run {drill.path}, or stack.ha in moneypath.run.yaml)")
