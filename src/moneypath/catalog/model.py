"""The catalog's typed model (pydantic): signals, SLOs, alerts, providers, cost, routes, roles, and the
naming rules and durations they share. Loading is load.py; cross-reference checks are validate.py."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from moneypath._common.strict import StrictModel
from moneypath.catalog.business_services import BusinessService, Dora
from moneypath.catalog.canary_policy import CanaryPolicy
from moneypath.catalog.conventions import DEFAULT_MIN_EVENTS
from moneypath.catalog.currencies import ISO_4217_EXPONENTS, format_money
from moneypath.catalog.features import FEATURES, SIGNAL_FEATURE
from moneypath.catalog.money_path import MoneyPath
from moneypath.catalog.readiness_policy import ReadinessPolicy
from moneypath.catalog.receivers import Deliveries, Webhook
from moneypath.catalog.terms import DURATION, OTHER, Matcher, Selector, duration_seconds  # noqa: F401 - public here too

DEFAULT_PATH = "moneypath.yaml"


def nearest_line(lines: dict[tuple, int], loc: tuple) -> int | None:
    """The line of a key path in the catalog file, or of its nearest ancestor that has one."""
    loc = tuple(str(p) if not isinstance(p, int) else p for p in loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


class CatalogError(Exception):
    """A catalog that cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class Signal(StrictModel):
    type: Literal["counter", "histogram", "gauge"] = Field(
        description="The Prometheus metric type; a counter's key ends in `_total`, no other does.")
    help: str = Field(min_length=1, description="The metric's HELP text, exported as written.")
    unit: str | None = Field(default=None, description="A base unit (seconds, bytes, ratio, usd, minor); the key must "
                             "then end in `_<unit>` (before `_total`).")
    labels: dict[str, list[str]] = Field(default_factory=dict, description="Label → its allowed values, or "
                                         "`@providers`, `@currencies`, `@signals`; any other value is recorded as "
                                         "`other`.")
    buckets: list[float] | None = Field(default=None, description="A histogram's bucket boundaries, positive and "
                                        "increasing; histograms only, and required there.")
    exemplars: bool = Field(default=False, description="Attach the current trace id to observations as exemplars; "
                            "histograms only.")
    enum: dict[str, int] | None = Field(default=None, description="State → the number the gauge reports for it "
                                        "(the circuit breaker's closed/half_open/open); gauges only.")
    multiprocess_mode: Literal["mostrecent", "max", "min", "sum"] = Field(
        default="mostrecent", description="How a gauge's values from several worker processes of one instance "
        "combine (prometheus_client multiprocess mode).")
    aggregate: Literal["sum", "max", "min"] | None = Field(
        default=None, description="How the series of several service instances combine into one value "
        "(`moneypath.check.instances`): sum for a share of the whole (counters and histograms always: each "
        "instance counts its own events), max/min for one shared thing every instance reports (an imbalance "
        "read from the shared ledger, a queue's depth in the shared database, the worst instance's circuit), "
        "where a sum counts it N times. A gauge's default: sum when its worker processes add up "
        "(multiprocess_mode: sum), else max.")
    detector: str | None = Field(default=None, description="The detector (a job on its own schedule) whose runs this "
                                 "signal's zero rests on; one of the heartbeat's `detector` values "
                                 "(moneypath.catalog.detectors). Built-in defaults: duplicates, reconciliation, "
                                 "ledger_balance, audit_chain.")

    # Filled in by the catalog after references are expanded.
    key: str = ""
    name: str = ""

    @field_validator("aggregate")
    @classmethod
    def _additive_events(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("type")
        if value not in (None, "sum") and kind in ("counter", "histogram"):
            raise ValueError(f"a {kind} counts each instance's own events: its instances add up (sum), never {value}")
        return value

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(self.labels)

    @property
    def across_instances(self) -> str:
        """The PromQL aggregation that combines this signal's instances (see `aggregate`)."""
        if self.aggregate is not None:
            return self.aggregate
        return "max" if self.type == "gauge" and self.multiprocess_mode != "sum" else "sum"

    def max_series(self) -> int:
        """Upper bound of exported series (each label value set plus 'other')."""
        n = 1
        for values in self.labels.values():
            n *= len(values) + 1
        if self.type == "histogram":
            n *= len(self.buckets or ()) + 3  # buckets, +Inf, _sum, _count
        return n


class LatencySli(StrictModel):
    signal: str = Field(description="The histogram signal whose observations are judged.")
    under: float = Field(gt=0, description="Seconds: an observation at or under this is good; one of the "
                         "histogram's bucket boundaries.")


class Sli(StrictModel):
    good: str | None = Field(default=None, description='Counter selector of the good events, e.g. '
                             '`authorizations_total{outcome=~"approved|declined"}`; the same signal as `total`.')
    total: str | None = Field(default=None, description="Counter selector of all events; give `good` and "
                              "`total`, or `latency`.")
    latency: LatencySli | None = Field(default=None, description="A latency SLI from a histogram, instead of "
                                       "good/total.")


class Slo(StrictModel):
    description: str = Field(min_length=1, description="What the SLO promises, in words.")
    objective: float = Field(gt=0, lt=100, description="Percent of good events, e.g. 99.9; at least about 93 so "
                             "the 14.4x fast burn can page.")
    window: str = Field(description="The compliance window, a Prometheus duration (e.g. 30d); the error budget "
                        "and the burn-rate alerts are computed over it.")
    sli: Sli = Field(description="How good and total events are counted.")
    min_events: int = Field(default=DEFAULT_MIN_EVENTS, ge=0, description="The low-traffic guard: fewer events "
                            "than this in a burn-rate alert's long window never page.")

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


class Alert(StrictModel):
    """A built-in alert (its rule shape is moneypath's; give `threshold`) or the team's own (give `expr`)."""

    severity: Literal["page", "ticket"] = Field(description="Which route it takes: `routes.page` or "
                                                 "`routes.ticket`.")
    threshold: float | None = Field(default=None, description="A built-in alert's threshold, in the unit of "
                                    "what it compares; an alert with `expr` has none.")
    summary: str = Field(min_length=1, description="One line; the alert's `summary` annotation (the page's "
                         "title).")
    description: str | None = Field(default=None, min_length=1, description="More words; the alert's "
                                    "`description` annotation.")
    expr: str | None = Field(default=None, min_length=1, description="PromQL over catalog signals and "
                             "recording rules")
    money_loss: bool = Field(default=False, description="Money may be lost while it fires: it pages every "
                             "receiver of `routes.money_loss` (label `money_loss=\"true\"`).")
    min_events: int | None = Field(default=None, ge=1, description="the volume an alert needs before it may fire "
                                   "(ApprovalRateDrop)")
    for_: str = Field(alias="for", default="0s", description="How long the condition must hold before the "
                      "alert fires, a Prometheus duration.")


class Watchdog(StrictModel):
    """The always-firing alert and the dead man's switch receiver it goes to, never to on-call."""

    enabled: bool = Field(default=True, description="Generate the always-firing alert and its route.")
    receiver: str = Field(default="deadmans-switch", min_length=1, description="The switch's receiver name, "
                          "not one of `receivers` (the heartbeat arrives every minute).")
    repeat_interval: str = Field(default="1m", description="How often Alertmanager repeats the heartbeat; the "
                                 "switch's period must be longer (with some grace).")
    webhook: Webhook | None = Field(default=None, description="Production: the switch's ping endpoint "
                                    "(Healthchecks, Dead Man's Snitch), which pages when pings stop.")


class Provider(StrictModel):
    display_name: str = Field(min_length=1, description="The provider's name as people say it (`moneypath "
                              "catalog` shows it).")


class ProviderFee(StrictModel):
    fixed_usd: float = Field(ge=0, description="USD charged per capture.")
    bps: float = Field(ge=0, description="Basis points of the captured amount (in its major unit).")


class Cost(StrictModel):
    infrastructure_usd_per_hour: float = Field(ge=0, description="What one service process costs an hour.")
    fraud_screening_usd_per_check: float = Field(ge=0, default=0, description="What one fraud check costs (with "
                                                 "the fraud feature on).")
    provider_fees: dict[str, ProviderFee] = Field(default_factory=dict, description="A catalog provider → its "
                                                  "fee per capture.")


class Receiver(Deliveries, StrictModel):
    """A team or person; its production deliveries (catalog/receivers.py) are optional: without any it is
    a webhook to the local `moneypath pager`, as drills use."""

    description: str = Field(min_length=1, description="Who this is, in words.")


class Routes(StrictModel):
    page: str = Field(description="The receiver of every `severity: page` alert.")
    ticket: str = Field(description="The receiver of every `severity: ticket` alert.")
    money_loss: list[str] = Field(min_length=1, description="The receivers a `money_loss` alert pages, all of "
                                  "them (on-call and compliance).")


class Role(StrictModel):
    receiver: str = Field(description="The catalog receiver that takes this role in an incident.")
    duty: str = Field(min_length=1, description="What the role does in the first hour; runbook pages and "
                      "drills give it a checkpoint.")


_READ = re.compile(r"(?is)^\s*(select|with)\b")


class MoneyChecks(StrictModel):
    """The read-only SQL a drill's money checks run on the service's own database (`--db-url`): its payments
    table and its copy of the provider's records, in the service's own table names (no ledger needed); `moneypath
    lint --db-url` prepares each one there. A query not given is a check reported as "not measured", never as
    money lost and never as a pass. Columns by name, parameters as ``:name``:

    - ``payments``: ``id`` — which of ``:ids`` (the payment ids the service acknowledged) are stored;
    - ``captures``: ``id`` — which of ``:ids`` have a capture booked;
    - ``capture_counts``: ``id``, ``captures`` — how many captures the provider's records hold for each of
      ``:ids``; each must be 1 (captured once);
    - ``refunds``: ``id``, ``captured_minor``, ``refunded_minor`` — for each of ``:ids``; refunds never exceed
      the capture;
    - ``balance`` (the ledger feature only): ``currency``, ``total`` — postings summed per currency; each 0;
    - ``breaks``: ``kind`` (``duplicate``, ``amount_differs``, …), ``currency``, ``amount_minor``, and any of
      ``captured_minor``, ``payment_id``, ``provider``, ``provider_ref``, ``subject`` — reconciliation breaks
      found since ``:since`` (Unix seconds).

    The catalog key was `ledger:` before; that key is still read as this one.
    """

    payments: str | None = Field(default=None, min_length=1, description="Which of `:ids` are stored (`id`).")
    captures: str | None = Field(default=None, min_length=1, description="Which of `:ids` have a capture booked "
                                 "(`id`).")
    capture_counts: str | None = Field(default=None, min_length=1, description="Captures on the provider's "
                                       "records per payment of `:ids` (`id`, `captures`); each must be 1.")
    refunds: str | None = Field(default=None, min_length=1, description="Captured and refunded money per payment "
                                "of `:ids` (`id`, `captured_minor`, `refunded_minor`).")
    balance: str | None = Field(default=None, min_length=1, description="Ledger postings summed per currency "
                                "(`currency`, `total`); the ledger feature only.")
    breaks: str | None = Field(default=None, min_length=1, description="Reconciliation breaks found since "
                               "`:since` (`kind`, `currency`, `amount_minor`, …).")

    PARAMETERS: ClassVar[dict[str, str]] = {"payments": "ids", "captures": "ids", "capture_counts": "ids",
                                            "refunds": "ids", "breaks": "since"}

    @field_validator("payments", "captures", "capture_counts", "refunds", "balance", "breaks")
    @classmethod
    def _one_read(cls, sql: str | None, info: ValidationInfo) -> str | None:
        if sql is None:
            return None
        if not _READ.match(sql):
            raise ValueError("a money check reads: one SELECT or WITH statement")
        param = cls.PARAMETERS.get(info.field_name or "")
        if param and not re.search(rf"(?<![:\w]):{param}\b", sql):
            raise ValueError(f"give the {param} to check as :{param}")
        return sql.strip().rstrip(";")


LedgerQueries = MoneyChecks  # the name this model had while its catalog key was `ledger:`


class Links(StrictModel):
    runbook_base_url: str = Field(description="Prefix of every alert's `runbook_url`: "
                                  "`<base><alert name in lowercase>.md`.")
    dashboard_base_url: str = Field(description="Prefix of every alert's `dashboard_url` (Grafana's `/d/`).")
    overview_dashboard: str = Field(default="moneypath-overview", description="The overview dashboard's uid, "
                                    "appended to `dashboard_base_url`.")


class Catalog(StrictModel):
    version: Literal[1] = Field(description="The catalog format's version.")
    service: str = Field(min_length=1, description="The service's name: the `service` label Prometheus adds "
                         "and the scrape job.")
    namespace: str = Field(description="lower_snake_case prefix of every metric name (`<namespace>_<signal "
                           "key>`).")
    alert_prefix: str = Field(default="MoneyPath", description="CamelCase prefix of every alert name "
                              "(`<prefix><alert key>`).")
    links: Links = Field(description="Where alerts link: runbooks and dashboards.")
    providers: dict[str, Provider] = Field(min_length=1, description="Provider id (lower_snake_case, a "
                                           "`provider` label value) → the provider.")
    currencies: list[str] = Field(min_length=1, description="ISO 4217 codes the service takes.")
    currency_exponents: dict[str, int] = Field(default_factory=dict, description="overrides the ISO 4217 table")
    features: dict[str, bool] = Field(default_factory=dict, description="moneypath.catalog.features; unlisted = "
                                      "on")
    signals: dict[str, Signal] = Field(min_length=1, description="Signal key → the metric; the key is the "
                                       "metric name without the namespace.")
    slos: dict[str, Slo] = Field(default_factory=dict, description="SLO name (lower-kebab-case) → the SLO; each "
                                 "gets recording rules and burn-rate alerts.")
    alerts: dict[str, Alert] = Field(default_factory=dict, description="Alert key (CamelCase, without the "
                                     "prefix) → a built-in alert's settings or the team's own alert.")
    cost: Cost | None = Field(default=None, description="required while the cost feature is on")
    receivers: dict[str, Receiver] = Field(min_length=1, description="Who can be paged: name → receiver.")
    routes: Routes = Field(description="Which receivers each kind of alert goes to.")
    roles: dict[str, Role] = Field(default_factory=dict, description="Incident roles (incident commander, "
                                   "compliance, …) → who holds them.")
    watchdog: Watchdog = Field(default_factory=Watchdog, description="The dead man's switch.")
    money_checks: MoneyChecks = Field(default_factory=MoneyChecks, description="SQL the drills' money checks "
                                      "run on the service's database (formerly `ledger:`).")
    readiness: ReadinessPolicy | None = Field(default=None, description="Drill readiness of the paging alerts.")
    business_services: dict[str, BusinessService] = Field(default_factory=dict, description="Important services.")
    dora: Dora = Field(default_factory=Dora, description="DORA classification inputs and reporting clocks.")
    canary: CanaryPolicy = Field(default_factory=CanaryPolicy, description="The canary judge's policy (docs/canary.md).")
    money_path: MoneyPath | None = Field(default=None, description="Where money moves and what shows its health "
                                         "(docs/map.md).")

    path: str = DEFAULT_PATH
    _lines: dict[tuple, int] = PrivateAttr(default_factory=dict)  # key path → line in the file (load.py)

    @model_validator(mode="before")
    @classmethod
    def _ledger_key(cls, data):
        """`ledger:` is the money checks' former key: read as `money_checks:` (both at once is an error)."""
        if isinstance(data, dict) and "ledger" in data:
            if "money_checks" in data:
                raise ValueError("ledger: is the former name of money_checks:; give only money_checks")
            data = {("money_checks" if k == "ledger" else k): v for k, v in data.items()}
        return data

    def located(self, *loc: str) -> str:
        """``file:line`` of a key path in the catalog file (``file`` alone when not known)."""
        line = nearest_line(self._lines, loc) if self._lines else None
        return f"{self.path}:{line}" if line else self.path

    @property
    def delivers_in_production(self) -> bool:
        """Whether the catalog declares production deliveries (then every receiver must)."""
        return any(r.declared() for r in self.receivers.values())

    def alert_name(self, key: str) -> str:
        return f"{self.alert_prefix}{key}"

    def runbook_url(self, key: str) -> str:
        return f"{self.links.runbook_base_url}{self.alert_name(key).lower()}.md"

    def enabled(self, feature: str) -> bool:
        """Whether an optional domain (moneypath.catalog.features) is on; an unlisted one has its default
        (on, but for features added later: audit)."""
        known = FEATURES.get(feature)
        return self.features.get(feature, known.default if known is not None else True)

    def signal_on(self, key: str) -> bool:
        """Whether a built-in signal's feature is on (a signal of no feature always is)."""
        feature = SIGNAL_FEATURE.get(key)
        return feature is None or self.enabled(feature)

    def has(self, *keys: str) -> bool:
        """Whether every signal is declared and its feature on: what a generator may query."""
        return all(key in self.signals and self.signal_on(key) for key in keys)

    def exponent(self, currency: str) -> int:
        """Digits after the decimal point of a currency's minor unit (ISO 4217, or the catalog's override)."""
        if currency in self.currency_exponents:
            return self.currency_exponents[currency]
        return ISO_4217_EXPONENTS.get(currency, 2)

    def major_units(self, minor: int | float, currency: str) -> float:
        """Minor units in the currency's major unit (6235 KWD minor → 6.235); fees in bps apply to these."""
        return minor / 10 ** self.exponent(currency)

    def money(self, minor: int | float, currency: str) -> str:
        """Minor units as people read them: EUR 62.35, JPY 6,235, KWD 6.235."""
        return format_money(minor, currency, self.exponent(currency))

    def metric(self, key: str) -> str:
        """Full exported metric name of a signal key."""
        return self.signals[key].name
