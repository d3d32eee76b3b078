"""Amounts: the API speaks decimal major units (12.34 USD, 1500 JPY), the database integer minor units."""

from decimal import Decimal

# ISO 4217 exponents of the currencies the shop sells in.
EXPONENTS = {"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "KRW": 0, "KWD": 3}


def to_minor(amount: Decimal, currency: str) -> int:
    """12.34 USD -> 1234; 1500 JPY -> 1500. ValueError for an unknown currency or more decimals than it has."""
    if currency not in EXPONENTS:
        raise ValueError(f"unsupported currency {currency!r}")
    scaled = Decimal(amount).scaleb(EXPONENTS[currency])
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency} allows ({EXPONENTS[currency]})")
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-EXPONENTS[currency])
