"""Card numbers (PANs) must never reach a label, a log line or a header we echo.

Imports nothing from moneypath; used by the catalog and the instrumentation.
"""

from __future__ import annotations

import re

# Runs of digits, optionally separated by single spaces, dashes, dots, underscores or colons, with
# at least the 13 digits a card number needs: shorter runs (timestamps, ids, amounts) never reach
# the Python check, which made redaction most of the cost of a log line.
_RUN = re.compile(r"(?<![0-9])[0-9](?:[ ._:-]?[0-9]){12,}(?![0-9])")
# Card networks issue from 2 (Mastercard 2-series) to 6; starting windows there keeps
# millisecond timestamps and order numbers (mostly 1…) out of the redaction.
_ISSUER_FIRST_DIGITS = frozenset("23456")
REDACTED = "[REDACTED-PAN]"


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def is_card_number(text: str) -> bool:
    """The text is, once separators are dropped, 13-19 digits passing the Luhn check."""
    digits = _digits(text)
    return 13 <= len(digits) <= 19 and all(ch.isdigit() or ch in " ._:-" for ch in text) and _luhn(digits)


def _run_holds_card(run: str) -> bool:
    digits = _digits(run)
    for start, first in enumerate(digits):
        if first not in _ISSUER_FIRST_DIGITS:
            continue
        for length in range(13, min(19, len(digits) - start) + 1):
            if _luhn(digits[start:start + length]):
                return True
    return False


def contains_card_number(text: str) -> bool:
    """Any 13-19 digit window (separators ignored) that could be a card: Luhn-valid, issuer digit first."""
    return any(_run_holds_card(m.group()) for m in _RUN.finditer(text))


# A number standing alone (not glued to letters or other digits), separators allowed inside.
_STANDALONE = re.compile(r"(?<![0-9A-Za-z])[0-9](?:[ ._:-]?[0-9]){12,18}(?![0-9A-Za-z])")


def mentions_card_number(text: str) -> bool:
    """A standalone 13-19 digit number, Luhn-valid with an issuer digit first: what input validation
    refuses. Narrower than contains_card_number (redaction), which also fires on digit runs inside
    hex ids (~0.1-0.6 % of random order ids) — fine for a log line, not for refusing a payment."""
    for match in _STANDALONE.finditer(text):
        digits = _digits(match.group())
        if digits[0] in _ISSUER_FIRST_DIGITS and _luhn(digits):
            return True
    return False


def redact_card_numbers(text: str) -> str:
    """Replace every digit run that holds a possible card number with a marker."""
    if not any(ch.isdigit() for ch in text):
        return text
    return _RUN.sub(lambda m: REDACTED if _run_holds_card(m.group()) else m.group(), text)
