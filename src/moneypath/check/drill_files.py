"""Drill files (runbooks/drills/*.yaml): the model, loading, and the checks against the catalog.

`load_drill(path, catalog, root)` returns a `Drill` or raises `DrillError` whose `problems` are
one line each, ``runbooks/drills/x.yaml: key.path: what is wrong`` (the same shape as the
runbook lint). `check_drill_files(catalog, root)` is what `moneypath lint` adds for every file.

Times in a drill file are durations ("30s", "2m") or plain seconds, written for the local drill
stack (rules compressed by `LOCAL_TIME_FACTOR`, see moneypath.generate.compress); the runner stretches
them, and the ranges in the drill's own PromQL, when it targets rules compressed less.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, field_validator, model_validator

from moneypath._common.fault_specs import proxy_specs, service_specs, simulator_specs
from moneypath._common.faults import FaultError
from moneypath._common.faults import Spec as FaultSpec
from moneypath._common.strict import StrictModel
from moneypath.catalog import Catalog
from moneypath.catalog import duration_seconds as parse_duration
from moneypath.catalog.conventions import HA_COMPONENTS, HA_REPLICAS, WATCHDOG_SEVERITY, Key
from moneypath.catalog.yaml_errors import error_line, error_text
from moneypath.check.expect import Expect
from moneypath.check.promql import FILE, QueryContext, check_promql, check_queries, did_you_mean
from moneypath.check.runbooks import RUNBOOK_DIR, FrontMatter, split_page

DRILL_DIR = "runbooks/drills"
LOCAL_TIME_FACTOR = 60  # the drill stack runs the rules this much faster: 5m windows are 5 s, for: 2m is 10 s
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


class Check(StrictModel):
    """A PromQL query and what its result must look like."""

    name: str = Field(min_length=1)
    promql: str = Field(min_length=1)
    expect: Expectations


class Amounts(StrictModel):
    min: int = Field(gt=0)
    max: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min > self.max:
            raise ValueError("min must not be larger than max")
        return self


class Peak(StrictModel):
    rate: float = Field(gt=0, le=2000)
    duration: Seconds


PLACEHOLDERS = ("amount_minor", "amount_major", "currency", "provider", "method", "idempotency_key", "reference",
                "correlation_id", "payment_id")
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # ${NAME}: read from the environment when the drill runs
HTTP_METHODS = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


def placeholders(value: Any) -> set[str]:
    """The {name} placeholders in a template value (strings inside mappings and lists too)."""
    if isinstance(value, str):
        return set(re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", ENV_REF.sub("", value)))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values()), set())
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value), set())
    return set()


def env_refs(value: Any) -> set[str]:
    """The ${NAME} environment references in a value."""
    if isinstance(value, str):
        return set(ENV_REF.findall(value))
    if isinstance(value, dict):
        return set().union(*(env_refs(v) for v in value.values()), set())
    if isinstance(value, list):
        return set().union(*(env_refs(v) for v in value), set())
    return set()


class Call(StrictModel):
    """One request of the team's API. Path, headers and JSON body may hold {placeholders}
    (PLACEHOLDERS); a JSON value that is a placeholder alone keeps its type ("{amount_minor}" → 6235)."""

    method: HTTP_METHODS = "POST"
    path: str = Field(pattern=r"^/")
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    id: str | None = None  # where the payment id is in a 2xx answer: a dotted path, e.g. id or data.charge.id
    outcome: str | None = None  # where the payment's state is in a 2xx answer, e.g. status


class Requests(StrictModel):
    """How the drill's load calls the team's API: the authorization, the capture, and how to read a payment back
    (the "writes lost" check: an acknowledged payment the API no longer knows)."""

    auth: Literal["minted", "bearer", "none"] = "minted"  # minted: from MONEYPATH_TOKEN_SECRET (or the local stack)
    token_env: str = Field(default="MONEYPATH_DRILL_TOKEN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")  # auth: bearer
    authorize: Call
    approved: list[str] = Field(min_length=1)  # outcomes after which the payment may be captured
    flagged: dict[str, list[str]] = Field(default_factory=dict)  # dotted path → answers that count as affected
    capture: Call | None = None
    read: Call | None = None
    captured: list[str] = Field(default_factory=list)  # read outcomes that show an acknowledged capture
    retry_status: list[int] = Field(default_factory=lambda: [409, 500, 502, 503, 504])

    @model_validator(mode="after")
    def _complete(self):
        if not self.authorize.id:
            raise ValueError("authorize.id: required: where the payment id is in the answer (e.g. id)")
        if not self.authorize.outcome:
            raise ValueError("authorize.outcome: required: where the payment's state is in the answer (e.g. status)")
        if self.read is not None and self.capture is not None and not self.captured:
            raise ValueError("captured: required with read and capture: the read outcomes that show a capture")
        for key in ("authorize", "capture", "read"):
            call = getattr(self, key)
            if call is None:
                continue
            used = placeholders([call.path, call.headers, call.json_body])
            unknown = sorted(used - set(PLACEHOLDERS))
            if unknown:
                raise ValueError(f"{key}: unknown placeholder {{{unknown[0]}}} (known: "
                                 f"{', '.join('{' + n + '}' for n in PLACEHOLDERS)})")
            if key == "authorize" and "payment_id" in used:
                raise ValueError("authorize: {payment_id} is known only after the authorization (capture, read)")
            if key != "authorize" and "payment_id" not in placeholders(call.path):
                raise ValueError(f"{key}.path: needs {{payment_id}}, e.g. /charges/{{payment_id}}")
        return self


class Load(StrictModel):
    rate: float = Field(gt=0, le=2000, description="payments per second")
    baseline: Seconds  # load before the fault (or the peak)
    capture: float = Field(default=0.8, ge=0, le=1)  # share of authorized payments captured
    providers: dict[str, float] = Field(min_length=1)  # provider → weight
    currencies: dict[str, float] = Field(min_length=1)  # currency → weight
    methods: dict[str, float] = Field(default_factory=lambda: {"card": 1.0})
    amounts: Amounts
    concurrency: int = Field(default=64, ge=1, le=1000)
    peak: Peak | None = None  # raise the rate after the baseline (with the fault, if any)
    requests: Requests  # inline, or a file path (relative to the drill file) holding the mapping

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


class Fault(StrictModel):
    where: Literal["faultproxy", "providersim", "service", "hook"]
    name: str = Field(min_length=1)  # the fault API's fault; for a hook, what the report calls it
    target: str | None = None  # provider (proxy and simulator faults) or queue (consumer_failure)
    params: dict[str, Any] = Field(default_factory=dict)
    set: Hook | None = None  # where: hook
    clear: Hook | None = None  # where: hook
    after: Seconds = 0.0  # wait after the steady-state check before injecting
    duration: Seconds  # the longest the fault stays; mitigation clears it earlier
    cap: Cap = Field(default_factory=Cap)
    halt_when: list[Check] = Field(default_factory=list)  # clear the fault at once when any holds

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


class Step(StrictModel):
    step: str = Field(min_length=1)  # the `name` of a diagnosis step in the runbook's front matter
    expect: Expectations


class Diagnosis(StrictModel):
    within: Seconds  # from the first expected page (or from injection) until every step holds
    steps: list[Step] = Field(min_length=1)


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
    HA stack (`moneypath drill run --ha`); the runner restarts the replica when the drill ends."""

    component: str  # HA_COMPONENTS: checked against the catalog's conventions, with a did-you-mean
    replica: str  # HA_REPLICAS: a or b (the replica label; for alertmanager its first or second node)
    after: Seconds = 0.0  # after the fault went on; before its duration ends


class Mitigation(StrictModel):
    clear_fault: bool = True
    actions: list[Action] = Field(default_factory=list)


class Recovery(StrictModel):
    within: Seconds  # from mitigation
    checks: list[Check] = Field(min_length=1)
    alerts_resolved: bool = False  # also require the expected alerts to stop firing within the deadline


class Plot(StrictModel):
    title: str = Field(min_length=1)
    promql: str = Field(min_length=1)
    unit: str = "short"


class RoleCard(StrictModel):
    checkpoint: str = Field(min_length=1)
    due: Seconds  # after classification, e.g. 15m


class RegulatoryClock(StrictModel):
    regime: str = Field(min_length=1)
    hours: float | None = Field(default=None, gt=0)  # None: "without undue delay" per the plan
    start: Literal["classification", "awareness"] = "classification"
    applies: str = Field(min_length=1)


class Tabletop(StrictModel):
    narrative: str = Field(min_length=1)
    roles: dict[str, RoleCard]
    regulatory: list[RegulatoryClock] = Field(default_factory=list)

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
    load: Load | None = None  # None: a tabletop drill (what `moneypath init` writes until a fault is wired)
    steady_state: list[Check] = Field(default_factory=list)
    steady_state_within: Seconds = 30.0  # how long the steady state may take to hold, before and after
    fault: Fault | None = None
    replica_down: list[ReplicaDown] = Field(default_factory=list)  # needs --ha: kill monitoring replicas mid-incident
    alerts: Alerts = Field(default_factory=Alerts)
    diagnosis: Diagnosis
    mitigation: Mitigation = Field(default_factory=Mitigation)
    recovery: Recovery | None = None
    plots: list[Plot] = Field(default_factory=list)
    tabletop: Tabletop

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
        if self.fault is not None and self.recovery is None:
            raise ValueError("a drill with a fault needs recovery (deadline and checks)")
        return self


# ---------------------------------------------------------------- loading


def rel_path(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def load_drill(path: Path, catalog: Catalog, root: Path = Path(".")) -> Drill:
    """Parse, validate and check a drill file against the catalog and the runbooks; DrillError otherwise."""
    rel = rel_path(Path(path), Path(root))
    doc = _read_yaml(Path(path), f"{rel}: {FILE}")
    if not isinstance(doc, dict):
        raise DrillError([f"{rel}: {FILE}: a drill file is a YAML mapping (title, runbook, load, ...)"])
    for key in _LOADER_FIELDS:
        if key in doc:
            raise DrillError([f"{rel}: {key}: set by the loader, not in the file"])
    load = doc.get("load")
    if isinstance(load, dict) and isinstance(load.get("requests"), str):
        load["requests"] = _requests_file(Path(path).parent / load["requests"], rel, Path(root))
    try:
        drill = Drill.model_validate(doc)
    except ValidationError as e:
        raise DrillError([f"{rel}: {_loc(err['loc'])}: {_msg(err)}" for err in e.errors()]) from None
    drill.name, drill.path = Path(path).stem, rel
    problems = [f"{rel}: {line}" for line in check_drill(drill, catalog, Path(root))]
    if problems:
        raise DrillError(problems)
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
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DrillError([f"{where}: no such file"]) from None
    except OSError as e:
        raise DrillError([f"{where}: cannot be read: {e.strerror or e}"]) from None
    except yaml.YAMLError as e:
        line = error_line(e)
        raise DrillError([f"{where}: not valid YAML{f' at line {line}' if line else ''}: {error_text(e)}"]) from None


def _loc(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or FILE


def _msg(err: dict) -> str:
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        known = _keys_at(Drill, err["loc"][:-1])
        msg += did_you_mean(str(err["loc"][-1]), known) if known else ""
    return msg.removeprefix("Value error, ")


def _keys_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a drill file may have at `loc` (the path to a mapping), for a did-you-mean on a misspelt one."""
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list: the list's model, found below
        info = model.model_fields.get(str(part)) or next(
            (f for f in model.model_fields.values() if f.alias == part), None)
        if info is None:
            return []
        found = _model_in(info.annotation)
        if found is None:
            return []
        model = found
    return [f.alias or name for name, f in model.model_fields.items() if name not in _LOADER_FIELDS]


def _model_in(annotation) -> type[BaseModel] | None:
    """The model a field holds, through list[...], X | None and Annotated[...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for arg in get_args(annotation) if (m := _model_in(arg)) is not None), None)


_LOADER_FIELDS = ("name", "path", "runbook_alert", "runbook_page", "runbook_steps")


# ---------------------------------------------------------------- checks against the catalog


def alert_names(catalog: Catalog) -> dict[str, dict]:
    """Every generated alert name → {severity (worst), money_loss}."""
    from moneypath.generate.rules import alert_rules

    out: dict[str, dict] = {}
    for group in alert_rules(catalog)["groups"]:
        for rule in group["rules"]:
            if rule["labels"]["severity"] == WATCHDOG_SEVERITY:
                continue  # the heartbeat fires always and pages nobody: no drill judges it
            entry = out.setdefault(rule["alert"], {"severity": "ticket", "money_loss": False, "labels": set()})
            if rule["labels"]["severity"] == "page":
                entry["severity"] = "page"
            entry["money_loss"] |= rule["labels"].get("money_loss") == "true"
            entry["labels"] |= set(rule["labels"])
    return out


def resolve_alert(name: str, catalog: Catalog, known: dict[str, dict]) -> str | None:
    """The generated alert name for `name`: either that name or a catalog key (prefix added)."""
    if name in known:
        return name
    full = f"{catalog.alert_prefix}{name}"
    return full if full in known else None


def receivers_for(alert: str, catalog: Catalog, known: dict[str, dict]) -> list[str]:
    """Who the catalog's routing pages for an alert (moneypath.generate.routing)."""
    info = known[alert]
    if info["money_loss"]:
        return list(dict.fromkeys(catalog.routes.money_loss))
    return [catalog.routes.page if info["severity"] == "page" else catalog.routes.ticket]


def fault_specs(where: str, catalog: Catalog) -> dict[str, FaultSpec]:
    """What the fault API at `where` can set, its targets named by the catalog."""
    providers = tuple(catalog.providers)
    if where == "service":
        queue = catalog.signals.get(Key.QUEUE_DEPTH)
        return service_specs(tuple(queue.labels.get("queue", ())) if queue else ())
    return proxy_specs(providers) if where == "faultproxy" else simulator_specs(providers)


def check_fault(fault: Fault, catalog: Catalog) -> list[str]:
    if fault.where == "hook":  # the team's own switch: its target, if named, is one of the catalog's providers
        if fault.target is not None and fault.target not in catalog.providers:
            return [f"fault.target: {fault.target!r} is not a catalog provider ({', '.join(catalog.providers)})"
                    f"{did_you_mean(fault.target, catalog.providers, SHORT)}"]
        return []
    specs = fault_specs(fault.where, catalog)
    if fault.name not in specs:
        return [f"fault.name: {fault.where} has no fault {fault.name!r} (known: {', '.join(specs)})"
                f"{did_you_mean(fault.name, specs, SHORT)}"]
    spec = specs[fault.name]
    problems = []
    if spec.target:
        if fault.target not in spec.targets:
            problems.append(f"fault.target: {fault.name} hits one {spec.target}: one of {', '.join(spec.targets)}"
                            f"{did_you_mean(str(fault.target), spec.targets, SHORT) if fault.target else ''}")
    elif fault.target is not None:
        problems.append(f"fault.target: {fault.name} takes no target")
    for key in fault.params:
        if key not in spec.params and key not in spec.optional:
            problems.append(f"fault.params.{key}: {fault.name} takes no such parameter "
                            f"(it takes {', '.join([*spec.params, *spec.optional]) or 'none'})")
    for key, validate in spec.params.items():
        if key not in fault.params:
            problems.append(f"fault.params.{key}: required by {fault.name}")
            continue
        try:
            validate(key, fault.params[key])
        except FaultError as e:
            problems.append(f"fault.params.{e}")
    for key, (validate, _) in spec.optional.items():
        try:
            if key in fault.params:
                validate(key, fault.params[key])
        except FaultError as e:
            problems.append(f"fault.params.{e}")
    return problems


SHORT = 0.6  # did_you_mean's cutoff for short names (providers, currencies, receivers): komojo → komoju


def _alert_hint(name: str, known, catalog: Catalog) -> str:
    """Did you mean, among the alerts' full names and the short ones a drill may use (without the prefix)?"""
    return did_you_mean(name, [*known, *(a.removeprefix(catalog.alert_prefix) for a in known)])


def check_drill(drill: Drill, catalog: Catalog, root: Path) -> list[str]:
    """Problems as ``key.path: what``; fills in the drill's runbook fields when the page is sound."""
    problems: list[str] = []
    known = alert_names(catalog)
    context = QueryContext(catalog)

    alert = resolve_alert(drill.runbook, catalog, known)
    if alert is None:
        problems.append(f"runbook: {drill.runbook!r} is not an alert the catalog generates "
                        f"(known: {', '.join(sorted(known))}){_alert_hint(drill.runbook, known, catalog)}")
    else:
        drill.runbook_alert = alert
        drill.runbook_page = f"runbooks/{alert.lower()}.md"
        page = root / drill.runbook_page
        try:
            meta = FrontMatter.model_validate(split_page(page.read_text(encoding="utf-8")).meta)
            drill.runbook_steps = {s.name: s.model_dump() for s in meta.diagnosis}
        except FileNotFoundError:
            problems.append(f"runbook: {drill.runbook_page} does not exist")
        except (ValueError, ValidationError):
            problems.append(f"runbook: {drill.runbook_page} has no valid front matter (see `moneypath lint`)")
    if drill.runbook_steps:
        for i, step in enumerate(drill.diagnosis.steps):
            found = drill.runbook_steps.get(step.step)
            if found is None:
                problems.append(f"diagnosis.steps.{i}.step: {step.step!r} is not a diagnosis step of "
                                f"{drill.runbook_page} (its steps: {'; '.join(drill.runbook_steps)})")
                continue
            for j, e in enumerate(step.expect):
                if found.get("sql") and e.labels is None and e.numeric and e.column is None:
                    problems.append(f"diagnosis.steps.{i}.expect.{j}: an SQL step's min/max/above/below need a column")
                if found.get("promql") and e.column is not None:
                    problems.append(f"diagnosis.steps.{i}.expect.{j}.column: only for SQL steps")

    for key in ("providers", "currencies") if drill.load is not None else ():
        declared = catalog.providers if key == "providers" else catalog.currencies
        for name in getattr(drill.load, key):
            if name not in declared:
                problems.append(f"load.{key}.{name}: not in the catalog's {key} ({', '.join(declared)})"
                                f"{did_you_mean(name, declared, SHORT)}")
    methods = catalog.signals[Key.AUTHORIZATIONS_TOTAL].labels.get("method") \
        if Key.AUTHORIZATIONS_TOTAL in catalog.signals else None
    for name in drill.load.methods if drill.load is not None and methods else ():
        if name not in methods:
            problems.append(f"load.methods.{name}: not a method the catalog declares ({', '.join(methods)})"
                            f"{did_you_mean(name, methods, SHORT)}")

    if drill.fault is not None:
        problems += check_fault(drill.fault, catalog)
    problems += check_replica_down(drill)

    named = set()
    for i, exp in enumerate(drill.alerts.expected):
        full = resolve_alert(exp.alert, catalog, known)
        if full is None:
            problems.append(f"alerts.expected.{i}.alert: {exp.alert!r} is not an alert the catalog generates"
                            f"{_alert_hint(exp.alert, known, catalog)}")
            continue
        exp.alert = full
        named.add(full)
        for label, value in exp.labels.items():
            if label not in known[full]["labels"] and label not in context.labels:
                problems.append(f"alerts.expected.{i}.labels.{label}: {full} carries no such label")
            elif label == "provider" and value not in catalog.providers:  # it would wait for a page never sent
                problems.append(f"alerts.expected.{i}.labels.provider: {value!r} is not a catalog provider "
                                f"({', '.join(catalog.providers)}){did_you_mean(value, catalog.providers, SHORT)}")
        for receiver in exp.receivers or []:
            if receiver not in catalog.receivers:
                problems.append(f"alerts.expected.{i}.receivers: {receiver!r} is not a catalog receiver"
                                f"{did_you_mean(receiver, catalog.receivers, SHORT)}")
    if drill.fault is None and drill.load is not None and drill.alerts.expected:
        problems.append("alerts.expected: a drill without a fault expects no alert")
    if drill.fault is not None and not drill.alerts.expected and "*" not in drill.alerts.must_not_page:
        problems.append("alerts.expected: a drill with a fault expects at least one alert (the page it rehearses), "
                        "or says that nothing may page (must_not_page: [\"*\"], a fault the service absorbs); "
                        "without either nothing judges the fault")
    for key in ("allowed", "must_not_page"):
        names = getattr(drill.alerts, key)
        for i, name in enumerate(names):
            if key == "must_not_page" and name == "*":
                continue
            full = resolve_alert(name, catalog, known)
            if full is None:
                problems.append(f"alerts.{key}.{i}: {name!r} is not an alert the catalog generates"
                                f"{_alert_hint(name, known, catalog)}")
            elif full in named:
                problems.append(f"alerts.{key}.{i}: {full} is listed twice (expected, allowed, must_not_page)")
            else:
                names[i] = full
                named.add(full)

    if drill.fault is None and (drill.mitigation.actions or drill.recovery is not None):
        problems.append("mitigation: a drill without a fault has nothing to mitigate or recover")

    for key, expr in drill_queries(drill):
        problems += [f"{key}: {what}" for what in check_promql(expr, context)]

    for role in drill.tabletop.roles:
        if role not in ROLES and role not in catalog.roles:
            problems.append(f"tabletop.roles.{role}: not a drill role ({', '.join(ROLES)}) nor a catalog role")
    return problems


def check_replica_down(drill: Drill) -> list[str]:
    """A kill names a monitoring part of the pair and a replica, happens while the fault is on, and leaves one
    replica of each pair alive (without one nothing pages: that is no HA drill)."""
    problems: list[str] = []
    killed: dict[str, int] = {}
    for i, kill in enumerate(drill.replica_down):
        key = f"replica_down.{i}"
        if kill.component not in HA_COMPONENTS:
            problems.append(f"{key}.component: {kill.component!r} does not run in pairs (one of "
                            f"{', '.join(HA_COMPONENTS)}){did_you_mean(kill.component, HA_COMPONENTS, SHORT)}")
        elif kill.component in killed:
            problems.append(f"{key}.component: {kill.component} is already killed by replica_down.{killed[kill.component]}"
                            ": with both replicas down nothing pages (kill one of each pair)")
        else:
            killed[kill.component] = i
        if kill.replica not in HA_REPLICAS:
            problems.append(f"{key}.replica: {kill.replica!r} is not a replica of the pair (one of "
                            f"{', '.join(HA_REPLICAS)}){_replica_hint(kill.replica)}")
        if drill.fault is None:
            problems.append(f"{key}: a replica dies mid-incident: the drill needs a fault")
        elif kill.after >= drill.fault.duration:
            problems.append(f"{key}.after: {kill.after:g} s is not before the fault ends ({drill.fault.duration:g} s)")
    return problems


def _replica_hint(given: str) -> str:
    """'; did you mean b?' for B, replica-b, prometheus-b or 2 (the second of the pair)."""
    word = given.strip().lower()
    if word.isdigit() and 1 <= int(word) <= len(HA_REPLICAS):
        return f"; did you mean {HA_REPLICAS[int(word) - 1]}? (the replicas are named, first {HA_REPLICAS[0]})"
    last = word.rsplit("-", 1)[-1]
    return f"; did you mean {last}?" if last in HA_REPLICAS else ""


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
                "none: start it so, or run the drill without --target-* and with --ha")
    return (f"{drill.path}: replica_down: kills a replica of the monitoring pair, which only the HA stack has: "
            f"run it with --ha (moneypath drill run --ha {drill.path})")


def drill_queries(drill: Drill) -> list[tuple[str, str]]:
    """(key path, PromQL) of every query the drill file itself declares."""
    out = [(f"steady_state.{i}.promql", c.promql) for i, c in enumerate(drill.steady_state)]
    if drill.fault is not None:
        out += [(f"fault.halt_when.{i}.promql", c.promql) for i, c in enumerate(drill.fault.halt_when)]
    if drill.recovery is not None:
        out += [(f"recovery.checks.{i}.promql", c.promql) for i, c in enumerate(drill.recovery.checks)]
    out += [(f"plots.{i}.promql", p.promql) for i, p in enumerate(drill.plots)]
    return out


def drill_files(root: Path) -> list[Path]:
    return sorted((Path(root) / DRILL_DIR).glob("*.yaml"))


def check_drill_files(catalog: Catalog, root: Path, promtool: bool = True) -> list[str]:
    """Every problem of every drill file under `root`, one line each (for `moneypath lint`)."""
    problems: list[str] = []
    queries: list[tuple[str, str, str]] = []
    for path in drill_files(root):
        try:
            drill = load_drill(path, catalog, root)
        except DrillError as e:
            problems += e.problems
            continue
        queries += [(drill.path, key, expr) for key, expr in drill_queries(drill)]
    if promtool:
        problems += check_queries(queries, RUNBOOK_DIR)
    return problems
