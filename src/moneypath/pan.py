"""Card numbers (PANs) must never reach a label, a log line or a header we echo.

Imports nothing from moneypath; used by the catalog and the instrumentation.
"""

from __future__ import annotations

import re

# 13-19 digits, optionally grouped by single spaces or dashes, not inside a longer number.
_CANDIDATE = re.compile(r"(?<![0-9])(?:[0-9][ -]?){12,18}[0-9](?![0-9])")
REDACTED = "[REDACTED-PAN]"


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_card_number(text: str) -> bool:
    """The whole text is 13-19 digits (spaces or dashes allowed) passing the Luhn check."""
    digits = text.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and digits.isdigit() and _luhn(digits)


def contains_card_number(text: str) -> bool:
    return any(is_card_number(m.group()) for m in _CANDIDATE.finditer(text))


def redact_card_numbers(text: str) -> str:
    """Replace every Luhn-valid 13-19 digit run (grouped or not) with a marker."""
    if not any(ch.isdigit() for ch in text):
        return text
    return _CANDIDATE.sub(lambda m: REDACTED if is_card_number(m.group()) else m.group(), text)
