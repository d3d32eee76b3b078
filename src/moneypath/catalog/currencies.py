"""ISO 4217 minor-unit exponents, and how money reads everywhere moneypath shows it.

Money is integer minor units of the currency's own smallest unit: 6235 minor units read
"EUR 62.35", "JPY 6,235" and "KWD 6.235". The catalog may add or override exponents
(`currency_exponents:`); everything that shows money goes through `format_money`.
"""

from __future__ import annotations

# ISO 4217 codes whose exponent is not 2 (the list maintained by SIX, 2024), and the usual two-digit ones.
_NOT_TWO = {
    # no minor unit
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # three decimals
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # four decimals (units of account)
    "CLF": 4, "UYW": 4,
}
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF "
    "CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG "
    "HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR "
    "MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK "
    "SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER "
    "ZAR ZMW ZWG"
).split()
ISO_4217_EXPONENTS: dict[str, int] = {**dict.fromkeys(_TWO, 2), **_NOT_TWO}


def format_money(minor: int | float, currency: str, exponent: int | None = None) -> str:
    """`EUR 62.35`, `JPY 6,235`, `KWD 6.235`: integer minor units in the currency's own exponent."""
    exp = ISO_4217_EXPONENTS.get(currency, 2) if exponent is None else exponent
    minor = int(round(minor))
    sign = "-" if minor < 0 else ""
    units, fraction = divmod(abs(minor), 10 ** exp)
    text = f"{units:,}" + (f".{fraction:0{exp}d}" if exp else "")
    return f"{currency} {sign}{text}"
