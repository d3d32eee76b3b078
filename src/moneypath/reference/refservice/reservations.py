"""Amount reservations: an amount-limited operation holds its amount on the payment before it calls
the provider, atomically with the check, so concurrent requests can never together ask a provider
for more than the payment allows (ten refunds of 300 against 900 remaining: three are held and sent,
seven answered 409 without a provider call). The booking releases the reservation in the transaction
that books the money; a failure releases it with the idempotency claim (booking.Idempotent).

The check and the insert run in one transaction that locks the payment row: SQLite's BEGIN IMMEDIATE
serializes it; PostgreSQL's SELECT … FOR UPDATE does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, delete, func, select
from sqlalchemy.engine import Connection

from moneypath.reference.refservice.db import payments, reservations
from moneypath.reference.refservice.statements import Prepared

_THIS = and_(reservations.c.principal == bindparam("b_principal"), reservations.c.key == bindparam("b_key"))
_FORGET = Prepared(delete(reservations).where(_THIS))
_RELEASE = Prepared(delete(reservations).where(_THIS, reservations.c.locked_until == bindparam("b_lock")))
_PAYMENT = Prepared(select(payments).where(payments.c.id == bindparam("b_id"),
                                           payments.c.principal == bindparam("b_principal")).with_for_update())
_HELD = Prepared(select(func.coalesce(func.sum(reservations.c.amount_minor), 0)).where(
    reservations.c.payment_id == bindparam("b_id"), reservations.c.operation == bindparam("b_operation"),
    reservations.c.locked_until > bindparam("b_now")))
_INSERT = Prepared(reservations.insert().values({name: bindparam(name) for name in (
    "principal", "key", "payment_id", "operation", "amount_minor", "locked_until")}))


@dataclass(frozen=True)
class Holder:
    """The request that owns an idempotency claim: what its work needs to call the provider and to
    hold an amount."""
    principal: str
    key: str  # the Idempotency-Key
    lock: float  # the claim's lock expiry: a reservation lapses with it
    provider_key: str  # the idempotency key sent to the provider (limits.provider_key)


class NotReservable(Exception):
    """The payment cannot take the amount now: the reason, for a 409."""


# allows(payment row, amount held by others in flight, amount asked) → None, or why not
Rule = Callable[[dict, int, int], "str | None"]


def refundable(row: dict, held: int, amount: int) -> str | None:
    remaining = row["amount_minor"] - row["refunded_minor"]
    if row["state"] == "captured" and held + amount <= remaining:
        return None
    return (f"payment {row['id']} is {row['state']} with {remaining} minor units refundable"
            + (f", {held} of them held by refunds in progress" if held else ""))


def capturable(row: dict, held: int, amount: int) -> str | None:
    if row["state"] != "authorized":
        return f"payment {row['id']} is {row['state']}, only authorized payments capture"
    return f"payment {row['id']} has a capture in progress" if held else None


def reserve(conn: Connection, holder: Holder, payment_id: str, operation: str, amount: int, allows: Rule,
            now: float | None = None) -> dict | None:
    """Hold `amount` of `operation` on the payment for `holder`: its row, None when there is no such
    payment of this principal, NotReservable when `allows` refuses."""
    now = time.time() if now is None else now
    this = {"b_principal": holder.principal, "b_key": holder.key}
    row = _PAYMENT.first(conn, {"b_id": payment_id, "b_principal": holder.principal})
    if row is None:
        return None
    _FORGET.count(conn, this)  # a retry that took the claim over replaces its predecessor's hold
    held = _HELD.scalar(conn, {"b_id": payment_id, "b_operation": operation, "b_now": now})
    if (why := allows(row, held, amount)) is not None:
        raise NotReservable(why)
    _INSERT.count(conn, {"principal": holder.principal, "key": holder.key, "payment_id": payment_id,
                         "operation": operation, "amount_minor": amount, "locked_until": holder.lock})
    return row


def release(conn: Connection, holder: Holder) -> None:
    """Drop the holder's reservation (booked, or failed); one a retry took over since is left alone."""
    _RELEASE.count(conn, {"b_principal": holder.principal, "b_key": holder.key, "b_lock": holder.lock})
