"""Eight days of a payment service's counters at 1-minute resolution, as OpenMetrics text for
`promtool tsdb create-blocks-from openmetrics`: a warm-up day (so that "a day ago" exists), then the week a
backtest reads, with busy days, quiet nights (5 payments an hour between 01:00 and 05:00, some nights 3 of
them failing) and known incidents. Days start at UTC midnight. Metric names and label values come from the
catalog, so the same week exists for any service. Used by the backtest's integration test and benchmark."""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

from moneypath.catalog import Catalog
from moneypath.catalog.conventions import Key

DAY, HOUR, MINUTE = 86400, 3600, 60
DAYS = 8  # day 0 is the warm-up; days 1-7 are the week


@dataclass(frozen=True)
class Incident:
    name: str
    alert: str  # the catalog alert key it must raise
    start: float  # seconds from the start of the week
    minutes: int


def incidents(providers: list[str]) -> list[Incident]:
    """Day 2 14:00 the first provider fails every call for 40 minutes; day 3 11:00 the second provider's
    issuers decline half for 60 minutes; day 5 10:00 10 % of authorizations fail for 2 hours; day 6 16:00
    5 % of ledger writes fail for 20 minutes. `start` counts from the warm-up day's midnight."""
    return [Incident(f"{providers[0]} down", "ProviderPartialOutage", 2 * DAY + 14 * HOUR, 40),
            Incident(f"{providers[1]} declines", "ApprovalRateDrop", 3 * DAY + 11 * HOUR, 60),
            Incident("10 % errors", "AuthorizationAvailabilityBudgetBurn", 5 * DAY + 10 * HOUR, 120),
            Incident("ledger failures", "LedgerWriteFailures", 6 * DAY + 16 * HOUR, 20)]


NIGHT_FAILURES = (1, 3, 5)  # nights whose 03:00 payments fail 3 out of 5


def per_minute(t: float) -> float:
    """Payments a minute at `t` seconds into a day: 600 by day, tapering to 5 an hour at night."""
    hour = (t % DAY) / HOUR
    if 1 <= hour < 5:
        return 0.0  # the night's payments are placed one by one (night_payments)
    if 7 <= hour < 23:
        return 600.0
    return 120.0  # evening and early morning


def night_payments(day: int) -> list[tuple[float, bool]]:
    """(seconds into the week, failed) for the night's 5 payments an hour; 03:00 fails 3 of 5 some nights."""
    out = []
    for hour in range(1, 5):
        for i in range(5):
            failed = hour == 3 and day in NIGHT_FAILURES and i in (1, 2, 4)
            out.append((day * DAY + hour * HOUR + i * 12 * MINUTE + 3 * MINUTE, failed))
    return out


def build(c: Catalog, end: float) -> str:
    """The eight days ending at `end` (Unix seconds, a UTC midnight) as OpenMetrics text."""
    start = end - DAYS * DAY
    providers = list(c.providers)[:2]
    method = c.signals[Key.AUTHORIZATIONS_TOTAL].labels.get("method", [None])[0]
    events = incidents(providers)
    nights = {round(t / MINUTE): failed for day in range(DAYS) for t, failed in night_payments(day)}
    nights_failed = {m for m, failed in nights.items() if failed}

    def active(name: str, minute: int) -> bool:
        i = next(e for e in events if e.name.endswith(name))
        return i.start <= minute * MINUTE < i.start + i.minutes * MINUTE

    auth = {(p, o): 0.0 for p in providers for o in ("approved", "declined", "error")}
    calls = {(p, o): 0.0 for p in providers for o in ("success", "error")}
    ledger = {o: 0.0 for o in ("committed", "failed")}
    rows: dict[str, list[str]] = {}
    for minute in range(DAYS * DAY // MINUTE + 1):
        t = minute * MINUTE
        n = per_minute(t) + (1 if minute in nights else 0)
        for p in providers:
            share = n / len(providers)
            error = 0.0005
            if minute in nights_failed:
                error = 1.0
            if p == providers[0] and active("down", minute):
                error = 1.0
            if active("errors", minute):
                error = 0.10
            decline = 0.5 if p == providers[1] and active("declines", minute) else 0.05
            failed = share * error
            answered = share - failed
            auth[(p, "error")] += failed
            auth[(p, "declined")] += answered * decline
            auth[(p, "approved")] += answered * (1 - decline)
            calls[(p, "error")] += failed
            calls[(p, "success")] += answered
        ledger_fail = 0.05 if active("failures", minute) else 0.0
        ledger["failed"] += n * ledger_fail
        ledger["committed"] += n * (1 - ledger_fail)
        ts = f"{start + t:.0f}"
        for (p, o), v in auth.items():
            labels = f'provider="{p}",' + (f'method="{method}",' if method else "") + f'outcome="{o}"'
            rows.setdefault(f"{c.metric(Key.AUTHORIZATIONS_TOTAL)}{{{labels}}}", []).append(f"{_count(v)} {ts}")
        for (p, o), v in calls.items():
            labels = f'provider="{p}",operation="authorize",outcome="{o}"'
            rows.setdefault(f"{c.metric(Key.PROVIDER_REQUESTS_TOTAL)}{{{labels}}}", []).append(f"{_count(v)} {ts}")
        for o, v in ledger.items():
            rows.setdefault(f'{c.metric(Key.LEDGER_WRITES_TOTAL)}{{outcome="{o}"}}', []).append(f"{_count(v)} {ts}")
    out = []
    for key in (Key.AUTHORIZATIONS_TOTAL, Key.PROVIDER_REQUESTS_TOTAL, Key.LEDGER_WRITES_TOTAL):
        metric = c.metric(key)
        out.append(f"# TYPE {metric.removesuffix('_total')} counter")
        for series, samples in rows.items():
            if series.startswith(metric + "{"):
                out += [f"{series} {sample}" for sample in samples]
    return "\n".join(out) + "\n# EOF\n"


def _count(v: float) -> str:
    return f"{math.floor(v * 1000) / 1000:.3f}"


def load(c: Catalog, end: float, data_dir: Path, work: Path) -> None:
    """The week as TSDB blocks in `data_dir` (Prometheus' --storage.tsdb.path)."""
    source = work / "week.om"
    source.write_text(build(c, end))
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir)],
                   check=True, capture_output=True, timeout=300)
