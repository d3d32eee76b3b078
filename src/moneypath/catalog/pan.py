"""Card numbers (PANs) must never reach a label, a log line or a header we echo.

Imports nothing from moneypath; used by the catalog and the instrumentation.
"""

from __future__ import annotations

import re

# Runs of digits, optionally separated by single spaces, dashes, dots, underscores or colons, with
# at least the 13 digits a card number needs: shorter runs (timestamps, ids, amounts) never reach
# the Python check, which made redaction most of the cost of a log line.
_RUN = re.compile(r"(?<![0-9])[0-9](?:[ ._:-]?[0-9]){12,}(?![0-9])")
# Log redaction only: the big networks issue from 2 (Mastercard 2-series) to 6; starting windows there keeps
# millisecond timestamps and order numbers (mostly 1…) readable in every log line. What is stored
# (mentions_card_number) takes every first digit: UATP cards start with 1, fuel and national cards with 7-9.
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


# A number, glued to letters or not ("ord4111111111111111" holds a card as surely as "card 4111…"): digit
# groups of any script (full-width digits too) joined by up to three non-alphanumeric characters.
_NUMBER = re.compile(r"\d+(?:[\W_]{1,3}\d+)*")
_GROUP = re.compile(r"\d+")
_PLAIN_SEPARATORS = frozenset(" ._:-")


def _printed_like_a_card(lengths: list[int]) -> bool:
    """Groups of four (the last may be shorter), or Amex/Diners 4-6-5 / 4-6-4: how cards are printed."""
    return all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4 or lengths in ([4, 6, 5], [4, 6, 4])


def _number_holds_card(number: str) -> bool:
    if len(number) < 13:  # fewer than 13 characters hold fewer than 13 digits: most numbers (ids, amounts) end here
        return False
    spans = [g.span() for g in _GROUP.finditer(number)]
    groups = ["".join(str(int(ch)) for ch in number[a:b]) for a, b in spans]  # any script's digits
    plain = [number[spans[i][1]:spans[i + 1][0]] in _PLAIN_SEPARATORS for i in range(len(spans) - 1)]
    for first in range(len(groups)):
        digits = ""
        for last in range(first, len(groups)):
            digits += groups[last]
            if len(digits) > 19:
                break
            if len(digits) >= 13 and _luhn(digits) and (
                    first == last or _printed_like_a_card([len(g) for g in groups[first:last + 1]])
                    or (first == 0 and last == len(groups) - 1 and all(plain))):
                return True
    return False


def mentions_card_number(text: str) -> bool:
    """A number holding 13-19 digits of whole groups that passes Luhn, whatever its first digit (UATP cards
    start with 1, fuel, telecom and national cards with 7-9), alone or glued to letters ("card 4111 1111
    1111 1111 12/27", "ord4111111111111111", "x7992739871300008"): what is refused or redacted before it is
    stored. Groups printed like a card (4-4-4-4, 4-6-5) count whatever joins them ("4111/1111/1111/1111",
    "4111,1111,…", "4111  1111  …"); groups of other sizes count only as the whole number joined by one
    space, dot, dash, underscore or colon, so "order 123456/654321, 1234" stays a reference. A run of more
    than 19 digits is a longer number, not a card (contains_card_number, for log lines, also looks inside
    those, from an issuer digit only). One random 13-19 digit number in ten passes Luhn, so such ids and
    whole-number order numbers ("112-1234567-1234567") are taken for cards that often: measured by
    scripts/pan_false_positives.py, asserted in tests/unit/catalog/test_pan.py (docs/reference-service.md,
    "Card numbers")."""
    return any(_number_holds_card(m.group()) for m in _NUMBER.finditer(text))


def redact_card_mentions(text: str) -> str:
    """Every number mentions_card_number or contains_card_number would find, replaced with a marker: afterwards
    neither finds one (a provider's webhook is stored redacted, never refused: the provider would resend it)."""
    if not any(ch.isdigit() for ch in text):
        return text
    text = _NUMBER.sub(lambda m: REDACTED if _number_holds_card(m.group()) else m.group(), text)
    return redact_card_numbers(text)


def redact_card_numbers(text: str) -> str:
    """Replace every digit run that holds a possible card number with a marker."""
    if not any(ch.isdigit() for ch in text):
        return text
    return _RUN.sub(lambda m: REDACTED if _run_holds_card(m.group()) else m.group(), text)
