"""Catalog sections `business_services:` and `dora:`: the important business services with their impact
tolerances (FCA SYSC 15A, PRA SS1/21), and what DORA's classification of an incident reads (RTS 2024/1772)
and its reporting clocks (RTS 2025/301). moneypath.check.classification judges them; moneypath.check.
report_clocks keeps the clocks. Defaults are the regulations' own figures, so a catalog without `dora:` has
them. Cross-references (signals, labels, currencies) are checked by `cross_check`, called from validate.py.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from moneypath._common.strict import StrictModel
from moneypath.catalog.terms import duration_seconds, parse_selector

ONE_MONTH = "1 month"  # the final report's clock: a calendar month, not 30 days


def seconds(text: str) -> float:
    """Seconds in a Prometheus duration (5m, 2h, 7d); ValueError otherwise."""
    try:
        return duration_seconds(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (e.g. 30m, 2h, 7d)") from None


def _duration(v: str) -> str:
    seconds(v)
    return v


class Tolerance(StrictModel):
    """The most disruption the service can bear before harm is intolerable (SYSC 15A.2.5, SS1/21 ch. 5)."""

    disruption: str = Field(description="The longest disruption tolerated, a duration (e.g. 30m).")
    value_held_up: dict[str, float] = Field(default_factory=dict, description="Currency → the most money "
                                            "held up (payments affected) tolerated, in the currency's major "
                                            "unit (EUR 5000.00, JPY 500000); a currency not listed is judged "
                                            "not measured.")

    @field_validator("disruption")
    @classmethod
    def _is_duration(cls, v: str) -> str:
        return _duration(v)

    @field_validator("value_held_up")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        if any(amount <= 0 for amount in v.values()):
            raise ValueError("amounts are above 0")
        return v


class BusinessService(StrictModel):
    """An important business service: which traffic is its, what counts as affected, its tolerances."""

    description: str = Field(min_length=1, description="What the service does for its clients, in words.")
    transactions: str = Field(description="Counter selector of all its transactions, e.g. "
                              "`authorizations_total{method=\"card\"}`.")
    affected: str = Field(description="Counter selector of its transactions that did not go through (the same "
                          "signal as `transactions`), e.g. `authorizations_total{outcome=~\"error|timeout\"}`.")
    value: str | None = Field(default=None, description="Counter selector of the value of its transactions in "
                              "minor units, with a `currency` label; without it the value criterion is not "
                              "measured.")
    affected_value: str | None = Field(default=None, description="Counter selector of the value of its "
                                       "affected transactions (minor units, `currency` label).")
    critical: bool = Field(default=True, description="It supports a critical or important function (DORA Art. "
                           "3(22); RTS 2024/1772 Art. 6): only then can an incident on it be major.")
    tolerance: Tolerance = Field(description="Impact tolerances: disruption and value held up.")

    @property
    def disruption_s(self) -> float:
        return seconds(self.tolerance.disruption)


class Thresholds(StrictModel):
    """RTS 2024/1772 Art. 9 materiality thresholds (defaults: the regulation's)."""

    clients_share: float = Field(default=0.10, gt=0, le=1, description="Art. 9(1)(a): affected clients above "
                                 "this share of all clients of the service.")
    clients: int = Field(default=100_000, ge=1, description="Art. 9(1)(b): affected clients above this number.")
    transactions_share: float = Field(default=0.10, gt=0, le=1, description="Art. 9(1)(d): affected "
                                      "transactions above this share of the daily average number.")
    value_share: float = Field(default=0.10, gt=0, le=1, description="Art. 9(1)(e): affected value above this "
                               "share of the daily average value.")
    downtime: str = Field(default="2h", description="Art. 9(3)(b): service downtime longer than this.")
    duration: str = Field(default="24h", description="Art. 9(3)(a): incident longer than this.")
    down_share: float = Field(default=0.05, gt=0, le=1, description="A minute counts as downtime when more than "
                              "this share of the service's transactions was affected (or its traffic fell below "
                              "this share of its daily average rate): partial unavailability counts (Art. 3).")

    @field_validator("downtime", "duration")
    @classmethod
    def _are_durations(cls, v: str) -> str:
        return _duration(v)


class Clocks(StrictModel):
    """RTS 2025/301 Art. 5(1) time limits (defaults: the regulation's)."""

    initial_after_classification: str = Field(default="4h", description="Art. 5(1)(a): the initial "
                                              "notification within this of the classification as major.")
    initial_after_awareness: str = Field(default="24h", description="Art. 5(1)(a): and no later than this "
                                         "after becoming aware of the incident.")
    intermediate_after_initial: str = Field(default="72h", description="Art. 5(1)(b): the intermediate report "
                                            "within this of the initial notification.")
    final_after_intermediate: str = Field(default=ONE_MONTH, description="Art. 5(1)(c): the final report "
                                          f"within this of the latest intermediate report ({ONE_MONTH!r}: a "
                                          "calendar month; or a duration).")

    @field_validator("initial_after_classification", "initial_after_awareness", "intermediate_after_initial")
    @classmethod
    def _are_durations(cls, v: str) -> str:
        return _duration(v)

    @field_validator("final_after_intermediate")
    @classmethod
    def _month_or_duration(cls, v: str) -> str:
        return v if v == ONE_MONTH else _duration(v)


class Dora(StrictModel):
    """What moneypath reads to classify an incident under DORA, and the reporting clocks."""

    clients_signal: str | None = Field(default=None, description="A counter signal of clients affected (a "
                                       "count, never an id); without it the clients criterion is not measured.")
    clients_total: int | None = Field(default=None, ge=1, description="All clients using the service, for "
                                      "the share in Art. 9(1)(a).")
    daily_average_over: str = Field(default="7d", description="The daily averages are taken over this window "
                                    "before the incident (7d: the mean of the 7 days before it).")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Art. 9 thresholds.")
    clocks: Clocks = Field(default_factory=Clocks, description="Art. 5 reporting time limits.")
    regime: Literal["DORA"] = "DORA"

    @field_validator("daily_average_over")
    @classmethod
    def _is_duration(cls, v: str) -> str:
        return _duration(v)


def cross_check(catalog) -> list[tuple[tuple, str]]:
    """(key path, problem) for each selector naming no counter signal or label, each currency the catalog
    does not take, a clients signal that is not a counter."""
    problems: list[tuple[tuple, str]] = []
    for name, svc in catalog.business_services.items():
        loc = ("business_services", name)
        parsed = {}
        for field in ("transactions", "affected", "value", "affected_value"):
            text = getattr(svc, field)
            if text is None:
                continue
            sel = parse_selector(text)
            sig = catalog.signals.get(sel.signal) if sel else None
            if sel is None:
                problems.append((loc + (field,), 'not a selector like name{label="value"}'))
            elif sig is None or sig.type != "counter":
                problems.append((loc + (field,), f"{sel.signal!r} is not a counter signal"))
            elif bad := [m.label for m in sel.matchers if m.label not in sig.labels]:
                problems.append((loc + (field,), f"{sel.signal} has no label {bad[0]!r}"))
            elif field in ("value", "affected_value") and "currency" not in sig.labels:
                problems.append((loc + (field,), f"{sel.signal} has no currency label: value is per currency"))
            else:
                parsed[field] = sel
        if "transactions" in parsed and "affected" in parsed \
                and parsed["transactions"].signal != parsed["affected"].signal:
            problems.append((loc + ("affected",), "must select the same signal as transactions"))
        if (svc.value is None) != (svc.affected_value is None):
            problems.append((loc + ("value",), "give value and affected_value together, or neither"))
        for cur in svc.tolerance.value_held_up:
            if cur not in catalog.currencies:
                problems.append((loc + ("tolerance", "value_held_up", cur), f"{cur!r} is not one of the catalog's "
                                 f"currencies ({', '.join(catalog.currencies)})"))
    key = catalog.dora.clients_signal
    if key is not None and (key not in catalog.signals or catalog.signals[key].type != "counter"):
        problems.append((("dora", "clients_signal"), f"{key!r} is not a counter signal (a count of clients "
                         "affected, never an id)"))
    return problems
