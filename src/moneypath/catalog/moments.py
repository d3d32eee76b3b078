"""Moments as the commands and records write them: RFC 3339 UTC to the second, and what a person may type for
one (RFC 3339 with its zone, Unix seconds, `now`, or a Prometheus duration ago such as 30m)."""

from __future__ import annotations

from datetime import UTC, datetime

from moneypath.catalog.terms import duration_seconds


def rfc3339(unix: float) -> str:
    """Unix seconds as RFC 3339 UTC, to the second (YYYY-MM-DDThh:mm:ssZ)."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_moment(text: str | float, now: float) -> float:
    """Unix seconds of RFC 3339 with a zone (YYYY-MM-DDThh:mm:ssZ or an offset), Unix seconds, `now`, or a
    duration ago (45m); ValueError with one line saying what is accepted."""
    if isinstance(text, int | float):
        return float(text)
    text = text.strip()
    if text == "now":
        return now
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return now - duration_seconds(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: give RFC 3339 (YYYY-MM-DDThh:mm:ssZ), Unix seconds, now, or a "
                         "duration ago (45m)") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z or an offset (+01:00)")
    return moment.timestamp()
