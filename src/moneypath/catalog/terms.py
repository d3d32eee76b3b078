"""The catalog's small terms, shared by the model and its sections: a Prometheus duration, a counter selector
(`authorizations_total{outcome=~"approved|declined"}`) and its matchers, and every label's overflow value."""

from __future__ import annotations

import re
from dataclasses import dataclass

OTHER = "other"  # every label's overflow value; reserved, added automatically

# A Prometheus duration such as 5m, 1h30m or 30d ("ms" before "m", so 5ms is not 5m + "s").
DURATION = re.compile(r"(?:\d+(?:ms|[smhdwy]))+")
_DURATION_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration; ValueError if it is not one."""
    if not DURATION.fullmatch(text):
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


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


_SELECTOR = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:\{(.*)\})?\s*$")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse_selector(text: str) -> Selector | None:
    """A counter selector's signal and matchers, or None when the text is not one."""
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
