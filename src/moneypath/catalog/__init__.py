"""Load and validate the catalog (moneypath.yaml) into typed objects.

Imports nothing else from moneypath but `moneypath.catalog.pan`, so `moneypath.instrument` can build on it and a
service can depend on the instrumentation alone. Every problem is reported as one line:
``file:line: key.path: what is wrong``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from moneypath.catalog.pan import contains_card_number

DEFAULT_PATH = "moneypath.yaml"
OTHER = "other"  # every label's overflow value; reserved, added automatically

_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_SLO_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
# A Prometheus duration such as 5m, 1h30m or 30d ("ms" before "m", so 5ms is not 5m + "s").
DURATION = re.compile(r"(?:\d+(?:ms|[smhdwy]))+")
_DURATION_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_SELECTOR = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:\{(.*)\})?\s*$")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
# Label names that would carry personal or card data; the conventions forbid them.
_SENSITIVE_LABEL = re.compile(r"(card_?number|^pan$|account|customer|email|iban|user_?id|phone)", re.IGNORECASE)
# Below this objective a 14.4x burn exceeds an error ratio of 1 and the fast page could never fire.
MIN_OBJECTIVE = 100 - 100 / 14.4
_RESERVED_LABELS = {"le", "quantile", "job", "instance"}
_REFERENCE_SECTIONS = ("providers", "currencies", "signals")
_UNIT_SUFFIX = {"seconds", "bytes", "ratio", "usd", "minor"}


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration; ValueError if it is not one."""
    if not DURATION.fullmatch(text):
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


class CatalogError(Exception):
    """A catalog that cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Signal(_Model):
    type: Literal["counter", "histogram", "gauge"]
    help: str = Field(min_length=1)
    unit: str | None = None
    labels: dict[str, list[str]] = Field(default_factory=dict)
    buckets: list[float] | None = None
    exemplars: bool = False
    enum: dict[str, int] | None = None
    multiprocess_mode: Literal["mostrecent", "max", "min", "sum"] = "mostrecent"

    # Filled in by the catalog after references are expanded.
    key: str = ""
    name: str = ""

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(self.labels)

    def max_series(self) -> int:
        """Upper bound of exported series (each label value set plus 'other')."""
        n = 1
        for values in self.labels.values():
            n *= len(values) + 1
        if self.type == "histogram":
            n *= len(self.buckets or ()) + 3  # buckets, +Inf, _sum, _count
        return n


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str


@dataclass(frozen=True)
class Selector:
    """A counter selector such as ``authorizations_total{outcome=~"approved|declined"}``."""

    signal: str
    matchers: tuple[Matcher, ...]


class LatencySli(_Model):
    signal: str
    under: float = Field(gt=0)


class Sli(_Model):
    good: str | None = None
    total: str | None = None
    latency: LatencySli | None = None


class Slo(_Model):
    description: str = Field(min_length=1)
    objective: float = Field(gt=0, lt=100)
    window: str
    sli: Sli

    _good: Selector | None = PrivateAttr(default=None)
    _total: Selector | None = PrivateAttr(default=None)

    @property
    def good(self) -> Selector | None:
        return self._good

    @property
    def total(self) -> Selector | None:
        return self._total

    @property
    def error_budget(self) -> float:
        """Allowed error ratio, e.g. 0.001 for 99.9 %."""
        return round(1 - self.objective / 100, 12)


class Alert(_Model):
    severity: Literal["page", "ticket"]
    threshold: float
    summary: str = Field(min_length=1)
    money_loss: bool = False
    for_: str = Field(alias="for", default="0s")


class Provider(_Model):
    display_name: str = Field(min_length=1)


class ProviderFee(_Model):
    fixed_usd: float = Field(ge=0)
    bps: float = Field(ge=0)


class Cost(_Model):
    infrastructure_usd_per_hour: float = Field(ge=0)
    fraud_screening_usd_per_check: float = Field(ge=0, default=0)
    provider_fees: dict[str, ProviderFee] = Field(default_factory=dict)


class Receiver(_Model):
    description: str = Field(min_length=1)


class Routes(_Model):
    page: str
    ticket: str
    money_loss: list[str] = Field(min_length=1)


class Role(_Model):
    receiver: str
    duty: str = Field(min_length=1)


class Links(_Model):
    runbook_base_url: str
    dashboard_base_url: str
    overview_dashboard: str = "moneypath-overview"


class Catalog(_Model):
    version: Literal[1]
    service: str = Field(min_length=1)
    namespace: str
    alert_prefix: str = "MoneyPath"
    links: Links
    providers: dict[str, Provider] = Field(min_length=1)
    currencies: list[str] = Field(min_length=1)
    signals: dict[str, Signal] = Field(min_length=1)
    slos: dict[str, Slo] = Field(default_factory=dict)
    alerts: dict[str, Alert] = Field(default_factory=dict)
    cost: Cost
    receivers: dict[str, Receiver] = Field(min_length=1)
    routes: Routes
    roles: dict[str, Role] = Field(default_factory=dict)

    path: str = DEFAULT_PATH

    def alert_name(self, key: str) -> str:
        return f"{self.alert_prefix}{key}"

    def runbook_url(self, key: str) -> str:
        return f"{self.links.runbook_base_url}{self.alert_name(key).lower()}.md"

    def metric(self, key: str) -> str:
        """Full exported metric name of a signal key."""
        return self.signals[key].name


# ---------------------------------------------------------------- loading


def load_catalog(path: str | Path = DEFAULT_PATH) -> Catalog:
    """Read, validate and resolve a catalog file. Raises CatalogError, never anything else."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError([f"{where}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError([f"{where}: cannot read: {exc}"]) from None
    return parse_catalog(text, where)


def parse_catalog(text: str, where: str = DEFAULT_PATH) -> Catalog:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CatalogError([f"{where}{line}: YAML syntax error: {problem}"]) from None
    lines: dict[tuple, int] = {}
    duplicates: list[tuple[tuple, int]] = []
    if node is not None:
        _index_lines(node, (), lines, duplicates)

    def fmt(loc: tuple, msg: str) -> str:
        line = _nearest_line(lines, loc)
        dotted = ".".join(str(p) for p in loc) or "(top)"
        return f"{where}{f':{line}' if line else ''}: {dotted}: {msg}"

    problems = [fmt(loc, "duplicate key (the later value would silently win)") for loc, _ in duplicates]
    if not isinstance(data, dict):
        raise CatalogError(problems + [fmt((), "the catalog must be a mapping of sections")])
    try:
        catalog = Catalog.model_validate({**data, "path": where})
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if p != "for_")
            problems.append(fmt(loc, err["msg"]))
        raise CatalogError(problems) from None
    problems += [fmt(loc, msg) for loc, msg in _resolve(catalog)]
    if problems:
        raise CatalogError(problems)
    return catalog


def _index_lines(node: yaml.Node, path: tuple, lines: dict, duplicates: list, active: frozenset = frozenset()) -> None:
    if id(node) in active:  # an alias that contains itself (`x: &r [*r]`): already being indexed
        return
    active = active | {id(node)}
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            child = path + (key,)
            if key in seen:
                duplicates.append((child, key_node.start_mark.line + 1))
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _index_lines(value_node, child, lines, duplicates, active)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), lines, duplicates, active)


def _nearest_line(lines: dict, loc: tuple) -> int | None:
    loc = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


# ---------------------------------------------------------------- semantic checks


def _resolve(c: Catalog) -> list[tuple[tuple, str]]:
    """Expand label references, name signals, and check cross-references and conventions."""
    problems: list[tuple[tuple, str]] = []

    def bad(loc: tuple, msg: str) -> None:
        problems.append((loc, msg))

    if not _IDENT.match(c.namespace):
        bad(("namespace",), "must be lower_snake_case (a metric name prefix)")
    if not _ALERT_NAME.match(c.alert_prefix):
        bad(("alert_prefix",), "must be CamelCase")
    for key in c.providers:
        if not _IDENT.match(key):
            bad(("providers", key), "provider ids must be lower_snake_case")
    for i, cur in enumerate(c.currencies):
        if not _CURRENCY.match(cur):
            bad(("currencies", i), f"{cur!r} is not an ISO 4217 code")

    sections = {"providers": list(c.providers), "currencies": list(c.currencies), "signals": list(c.signals)}
    for key, sig in c.signals.items():
        loc = ("signals", key)
        sig.key, sig.name = key, f"{c.namespace}_{key}"
        _check_signal_name(sig, loc, bad)
        resolved: dict[str, list[str]] = {}
        for label, values in sig.labels.items():
            lloc = loc + ("labels", label)
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                bad(lloc, "not a valid Prometheus label name")
            elif label in _RESERVED_LABELS:
                bad(lloc, f"'{label}' is reserved by Prometheus")
            elif _SENSITIVE_LABEL.search(label):
                bad(lloc, "labels must never carry card, account or customer data")
            expanded: list[str] = []
            for i, value in enumerate(values):
                if value.startswith("@"):
                    section = value[1:]
                    if section not in _REFERENCE_SECTIONS:
                        bad(lloc + (i,), f"unknown reference {value!r} (use @providers, @currencies or @signals)")
                    else:
                        expanded += sections[section]
                else:
                    expanded.append(value)
            if not expanded:
                bad(lloc, "declare at least one allowed value")
            for value in expanded:
                if value == OTHER:
                    bad(lloc, f"'{OTHER}' is reserved: unknown values are recorded as '{OTHER}' automatically")
                elif contains_card_number(value):
                    bad(lloc, "a value looks like a card number")
                elif not value:
                    bad(lloc, "empty label value")
            if len(set(expanded)) != len(expanded):
                bad(lloc, "duplicate values")
            resolved[label] = expanded
        sig.labels = resolved
        if sig.type == "histogram":
            b = sig.buckets
            if not b:
                bad(loc + ("buckets",), "a histogram needs buckets")
            elif any(x <= 0 for x in b) or any(x >= y for x, y in zip(b, b[1:])):
                bad(loc + ("buckets",), "buckets must be positive and strictly increasing")
        elif sig.buckets is not None:
            bad(loc + ("buckets",), f"only histograms have buckets, this is a {sig.type}")
        if sig.exemplars and sig.type != "histogram":
            bad(loc + ("exemplars",), "exemplars are attached to histograms only")
        if sig.enum is not None and sig.type != "gauge":
            bad(loc + ("enum",), "only gauges encode an enum")

    for key, slo in c.slos.items():
        _check_slo(c, key, slo, bad)
    for key, alert in c.alerts.items():
        if not _ALERT_NAME.match(key):
            bad(("alerts", key), "alert names are CamelCase")
        if not DURATION.fullmatch(alert.for_):
            bad(("alerts", key, "for"), f"{alert.for_!r} is not a Prometheus duration (e.g. 5m)")
    for provider in c.cost.provider_fees:
        if provider not in c.providers:
            bad(("cost", "provider_fees", provider), "not a declared provider")
    for field in ("page", "ticket"):
        if getattr(c.routes, field) not in c.receivers:
            bad(("routes", field), f"receiver {getattr(c.routes, field)!r} is not declared in receivers")
    for i, receiver in enumerate(c.routes.money_loss):
        if receiver not in c.receivers:
            bad(("routes", "money_loss", i), f"receiver {receiver!r} is not declared in receivers")
    for key, role in c.roles.items():
        if role.receiver not in c.receivers:
            bad(("roles", key, "receiver"), f"receiver {role.receiver!r} is not declared in receivers")
    return problems


def _check_signal_name(sig: Signal, loc: tuple, bad) -> None:
    key = sig.key
    if not _IDENT.match(key):
        bad(loc, "signal keys are lower_snake_case")
        return
    base = key[: -len("_total")] if key.endswith("_total") else key
    if sig.type == "counter" and not key.endswith("_total"):
        bad(loc, "counter names end in _total")
    if sig.type != "counter" and key.endswith("_total"):
        bad(loc, "only counters end in _total")
    if sig.unit is not None:
        if sig.unit not in _UNIT_SUFFIX:
            bad(loc + ("unit",), f"use a base unit: one of {', '.join(sorted(_UNIT_SUFFIX))}")
        elif not base.endswith("_" + sig.unit):
            bad(loc, f"a signal in {sig.unit} must be named *_{sig.unit}{'_total' if sig.type == 'counter' else ''}")


def _check_slo(c: Catalog, key: str, slo: Slo, bad) -> None:
    loc = ("slos", key)
    if not _SLO_NAME.match(key):
        bad(loc, "SLO names are lower-kebab-case")
    if not DURATION.fullmatch(slo.window):
        bad(loc + ("window",), f"{slo.window!r} is not a Prometheus duration (e.g. 30d)")
    if slo.objective < MIN_OBJECTIVE:
        bad(loc + ("objective",), f"below {MIN_OBJECTIVE:.2f} a 14.4x burn rate exceeds 100 % errors, so the fast "
                                  "page could never fire; use a ticket-only alert for such a loose objective")
    sli = slo.sli
    if sli.latency is not None:
        if sli.good or sli.total:
            bad(loc + ("sli",), "use either good/total or latency, not both")
        sig = c.signals.get(sli.latency.signal)
        if sig is None or sig.type != "histogram":
            bad(loc + ("sli", "latency", "signal"), f"{sli.latency.signal!r} is not a histogram signal")
        elif sli.latency.under not in (sig.buckets or ()):
            bad(loc + ("sli", "latency", "under"),
                f"{sli.latency.under} must be one of the bucket boundaries {sig.buckets} to be measured exactly")
        return
    if not (sli.good and sli.total):
        bad(loc + ("sli",), "an SLI needs good and total selectors, or latency")
        return
    for field in ("good", "total"):
        selector = _parse_selector(getattr(sli, field))
        floc = loc + ("sli", field)
        if selector is None:
            bad(floc, 'not a selector like name{label="value"}')
            continue
        sig = c.signals.get(selector.signal)
        if sig is None or sig.type != "counter":
            bad(floc, f"{selector.signal!r} is not a counter signal")
            continue
        for m in selector.matchers:
            if m.label not in sig.labels:
                bad(floc, f"{selector.signal} has no label {m.label!r}")
            elif m.op == "=" and m.value not in sig.labels[m.label]:
                bad(floc, f"{m.value!r} is not an allowed value of {m.label}")
        setattr(slo, f"_{field}", selector)
    if slo.good and slo.total and slo.good.signal != slo.total.signal:
        bad(loc + ("sli",), "good and total must select the same signal")


def _parse_selector(text: str) -> Selector | None:
    m = _SELECTOR.match(text)
    if not m:
        return None
    body = m.group(2) or ""
    matchers, pos = [], 0
    while body[pos:].strip():
        mm = _MATCHER.match(body, pos)
        if not mm:
            return None
        matchers.append(Matcher(mm.group(1), mm.group(2), mm.group(3)))
        pos = mm.end()
    return Selector(m.group(1), tuple(matchers))


def summary(c: Catalog) -> dict[str, Any]:
    return {
        "signals": len(c.signals),
        "max_series": sum(s.max_series() for s in c.signals.values()),
        "slos": len(c.slos),
        "alerts": len(c.alerts),
        "providers": len(c.providers),
    }
