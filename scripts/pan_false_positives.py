"""How often the card-number checks trip on things that are not card numbers: realistic order references and
ids, generated from a fixed seed. Two figures per kind: what is stored (moneypath.catalog.pan.mentions_card_number,
what the reference service refuses in a `reference` and redacts in a webhook; every first digit) and what log
lines redact (contains_card_number; windows starting at an issuer digit 2-6 only). docs/reference-service.md
("Card numbers") quotes the figures.

    PYTHONPATH=src python scripts/pan_false_positives.py [N]
"""

from __future__ import annotations

import random
import string
import sys
import timeit
import uuid
from collections.abc import Callable

from moneypath.catalog.pan import contains_card_number, mentions_card_number

_B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32 (ULID)
_B62 = string.digits + string.ascii_letters


def kinds(rng: random.Random) -> dict[str, Callable[[], str]]:
    """Name → a generator of one realistic reference or id that is not a card number."""
    def digits(n: int) -> str:
        return "".join(rng.choice(string.digits) for _ in range(n))

    return {
        "ORD-<8 digits>": lambda: f"ORD-{digits(8)}",
        "order-<1..7 digits>": lambda: f"order-{rng.randint(1, 9_999_999)}",
        "INV-<year>-<6 digits>": lambda: f"INV-{rng.randint(2015, 2030)}-{digits(6)}",
        "3-7-7 marketplace order (112-1234567-1234567)": lambda: f"{digits(3)}-{digits(7)}-{digits(7)}",
        "UUID4": lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "UUID4 without dashes": lambda: uuid.UUID(int=rng.getrandbits(128), version=4).hex,
        "ULID": lambda: "".join(rng.choice(_B32) for _ in range(26)),
        "pi_<24 base62> (provider-style id)": lambda: "pi_" + "".join(rng.choice(_B62) for _ in range(24)),
        "ms timestamp id (13 digits, 17…)": lambda: f"evt-{rng.randint(1_700_000_000_000, 1_799_999_999_999)}",
        # Twitter-style: milliseconds since 2010-11-04 (here 2024-2030) << 22, then 22 bits of worker and sequence
        "snowflake id (19 digits, 2024–2030)": lambda: str(
            (rng.randint(1_704_067_200_000, 1_893_456_000_000) - 1_288_834_974_657) << 22 | rng.getrandbits(22)),
        "random 10-digit numeric id": lambda: digits(10),
        "random 16-digit numeric id": lambda: digits(16),
    }


def measure(n: int = 20_000, seed: int = 32, check: Callable[[str], bool] = mentions_card_number,
            ) -> dict[str, tuple[int, int]]:
    """Kind → (how many of n tripped `check`, n); the same values for every check (the seed)."""
    rng = random.Random(seed)
    return {name: (sum(check(make()) for _ in range(n)), n) for name, make in kinds(rng).items()}


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 20_000
    stored, logged = measure(n), measure(n, check=contains_card_number)
    print(f"{'of ' + str(n) + ' each':<48} {'stored (refused/redacted)':>26} {'log lines (redacted)':>22}")
    for name, (hits, total) in stored.items():
        print(f"{name:<48} {hits:>8} {100 * hits / total:6.2f} %{'':<8} {logged[name][0]:>8} "
              f"{100 * logged[name][0] / total:6.2f} %")
    values = [make() for make in kinds(random.Random(32)).values() for _ in range(1_000)]
    for check in (mentions_card_number, contains_card_number):  # a figure, not a gate (machines differ)
        best = min(timeit.repeat(lambda check=check: [check(v) for v in values], number=1, repeat=5))
        print(f"{check.__name__}: {1e6 * best / len(values):.2f} µs per call (mean over these kinds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
