"""The catalog's `readiness:` section: how recently each paging alert must have passed a drill, how fast it must
page, and when its time to page counts as creeping. Read by `moneypath readiness` and its exporter; the
ReadinessLapsed and TimeToPageCreeping ticket rules and the readiness dashboard are generated while the section
is declared (moneypath.generate.readiness_rules)."""

from __future__ import annotations

from pydantic import Field, field_validator

from moneypath._common.strict import StrictModel
from moneypath.catalog.terms import duration_seconds

# The yearly rules (PCI DSS 12.10.2, DORA Art. 11(6)) are the outer bound of any readiness policy.
MAX_POLICY_DAYS = 365
DEFAULT_POLICY_DAYS = 90


def _duration(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        seconds = duration_seconds(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a Prometheus duration (e.g. 5m, 30m)") from None
    if seconds <= 0:
        raise ValueError("a deadline is more than 0 seconds")
    return value


class AlertReadiness(StrictModel):
    """One paging alert's own settings; what it leaves out comes from the section."""

    policy_days: int | None = Field(default=None, ge=1, le=MAX_POLICY_DAYS, description="Days within which this "
                                    "alert must have passed a drill (at most 365: the yearly rules' bound).")
    page_deadline: str | None = Field(default=None, description="How fast this alert must page, in real time, a "
                                      "Prometheus duration (e.g. 10m); the default is what the drills expecting "
                                      "it say (`page_within` scaled back to real time), else the section's.")

    @field_validator("page_deadline")
    @classmethod
    def _deadline(cls, value: str | None) -> str | None:
        return _duration(value)


class Trend(StrictModel):
    runs: int = Field(default=3, ge=1, le=10, description="How many recent runs a median of time to page takes.")
    creep: float = Field(default=0.5, gt=0, description="Time to page creeps when the median of the last `runs` "
                         "runs exceeds the median of the `runs` before by more than this share (0.5: by half).")


class ReadinessPolicy(StrictModel):
    """`readiness:`: every paging alert of the catalog (business alerts with severity page, SLO burn-rate
    alerts) must have passed a drill within `policy_days`; its time to page, in real time, is judged against its
    deadline and its own past."""

    policy_days: int = Field(default=DEFAULT_POLICY_DAYS, ge=1, le=MAX_POLICY_DAYS, description="Days within "
                             "which every paging alert must have passed a drill (default 90; at most 365, the "
                             "yearly rules' bound).")
    page_deadline: str | None = Field(default=None, description="How fast a paging alert must page, in real "
                                      "time, when neither its own setting nor a drill expecting it says.")
    trend: Trend = Field(default_factory=Trend, description="When time to page counts as creeping.")
    alerts: dict[str, AlertReadiness] = Field(default_factory=dict, description="A paging alert's key (as in "
                                              "`alerts:`, or an SLO's burn-rate alert, e.g. "
                                              "AuthorizationAvailabilityBudgetBurn) → its own settings.")

    @field_validator("page_deadline")
    @classmethod
    def _deadline(cls, value: str | None) -> str | None:
        return _duration(value)

    def policy_seconds(self, key: str) -> float:
        own = self.alerts.get(key)
        days = own.policy_days if own is not None and own.policy_days is not None else self.policy_days
        return days * 86400.0

    def own_deadline(self, key: str) -> str | None:
        """The deadline the catalog gives the alert itself, else None (the drills' or the section's apply)."""
        own = self.alerts.get(key)
        return own.page_deadline if own is not None else None


def readiness_problems(c) -> list[tuple[tuple, str]]:
    """(key path, problem) for every `readiness.alerts` key that is not a paging alert of the catalog."""
    from moneypath.catalog.conventions import slo_alert_key

    if c.readiness is None:
        return []
    paging = {k for k, a in c.alerts.items() if a.severity == "page"} | {slo_alert_key(k) for k in c.slos}
    return [(("readiness", "alerts", key), f"not a paging alert of the catalog (paging: {', '.join(sorted(paging))})")
            for key in c.readiness.alerts if key not in paging]
