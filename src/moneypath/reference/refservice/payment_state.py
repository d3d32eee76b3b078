"""Payment state and its ledger effects, written in one database transaction each.

Ledger accounts: `provider_receivable:<provider>` (what a provider owes us for captures),
`merchant_payable` (what we owe the merchant), `provider_payout_clearing:<provider>`
(payouts in flight). Every movement balances per currency.
"""

from __future__ import annotations

import secrets
import time

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.engine import Connection

from moneypath.reference.refservice import ledger, outbox
from moneypath.reference.refservice.audit import trail as audit
from moneypath.reference.refservice.db import PaymentRow, payments
from moneypath.reference.refservice.ledger import Posting
from moneypath.reference.refservice.statements import Prepared

_COLUMNS = ("id", "principal", "kind", "state", "provider", "method", "amount_minor", "refunded_minor", "currency",
            "reference", "provider_ref", "provider_status", "risk_decision", "created_at", "updated_at")
# The two bookings that write a record and its audit event in one statement on PostgreSQL (audit.Audited).
_INSERT = audit.Audited(payments.insert().values({name: bindparam(name) for name in _COLUMNS}))
_BY_PROVIDER_REF = Prepared(select(payments).where(payments.c.provider == bindparam("b_provider"),
                                                   payments.c.provider_ref == bindparam("b_ref")))
_GET = Prepared(select(payments).where(payments.c.id == bindparam("b_id"),
                                       payments.c.principal == bindparam("b_principal")))
_CAPTURE = audit.Audited(update(payments).where(payments.c.id == bindparam("b_id"), payments.c.state == "authorized")
                    .values(state="captured", provider_status=bindparam("b_status"), captured_at=bindparam("b_now"),
                            updated_at=bindparam("b_now")))
_REFUNDED = payments.c.refunded_minor + bindparam("b_amount")
_REFUND = Prepared(update(payments).where(payments.c.id == bindparam("b_id"), payments.c.state == "captured",
                                          _REFUNDED <= payments.c.amount_minor)
                   .values(refunded_minor=_REFUNDED, provider_status=bindparam("b_status"),
                           updated_at=bindparam("b_now"),
                           state=case((_REFUNDED == payments.c.amount_minor, "refunded"), else_=payments.c.state))
                   .returning(payments.c.refunded_minor, payments.c.state))
# What the audit trail records of a new record (every later event records the fields it changes).
AUDITED = ("kind", "state", "provider", "method", "amount_minor", "refunded_minor", "currency", "reference",
           "provider_ref", "provider_status", "risk_decision")


def new_id(prefix: str) -> str:
    """`prefix_` + 12 hex digits of the time in ms + 12 random: ids that sort by creation, so every index keyed
    by a payment (its own, the ledger's, the audit trail's, the reservations') grows at its right edge and its
    hot pages stay few and cached; random ids write into pages all over each growing index. 48 random bits per
    millisecond keep a collision out of reach."""
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


def create(conn: Connection, row: PaymentRow) -> PaymentRow:
    """Book a new payment or payout: `row`, completed in place (a new id when it has none, no risk decision when
    it names none, nothing refunded, created and updated now) and returned."""
    now = time.time()
    kind = row["kind"]
    if "id" not in row:
        row["id"] = new_id("pay" if kind == "payment" else "po")
    if "risk_decision" not in row:
        row["risk_decision"] = None
    row["refunded_minor"] = 0
    row["created_at"] = row["updated_at"] = now
    _INSERT.count(conn, row, row, "payout" if kind == "payout" else "authorize", None,
                  {k: row[k] for k in AUDITED}, now)
    if kind == "payout" and row["state"] == "paid":
        provider, currency, amount_minor = row["provider"], row["currency"], row["amount_minor"]
        ledger.post(conn, row["id"], "payout", [
            Posting("merchant_payable", currency, amount_minor),
            Posting(f"provider_payout_clearing:{provider}", currency, -amount_minor)])
        _announce(conn, "payout.paid", row, amount_minor)
    return row


def _announce(conn: Connection, event: str, payment: dict, amount_minor: int) -> None:
    """Tell the consumers (notifications, compliance log) in the booking transaction: ids and money only."""
    outbox.enqueue(conn, event, {"payment_id": payment["id"], "provider": payment["provider"],
                                 "amount_minor": amount_minor, "currency": payment["currency"]})


def by_provider_ref(conn: Connection, provider: str, provider_ref: str) -> dict | None:
    return _BY_PROVIDER_REF.first(conn, {"b_provider": provider, "b_ref": provider_ref})


def get(conn: Connection, payment_id: str, principal: str) -> dict | None:
    return _GET.first(conn, {"b_id": payment_id, "b_principal": principal})


def mark_captured(conn: Connection, payment: dict, provider_status: str | None) -> bool:
    """Book the capture once: False (nothing written) when it was already booked, e.g. by the
    provider's capture webhook racing the API response."""
    now = time.time()
    if _CAPTURE.count(conn, {"b_id": payment["id"], "b_status": provider_status, "b_now": now}, payment, "capture",
                      {"state": "authorized", "provider_status": payment.get("provider_status")},
                      {"state": "captured", "provider_status": provider_status, "captured_at": now}, now) != 1:
        return False
    ledger.post(conn, payment["id"], "capture", [
        Posting(f"provider_receivable:{payment['provider']}", payment["currency"], payment["amount_minor"]),
        Posting("merchant_payable", payment["currency"], -payment["amount_minor"])])
    _announce(conn, "payment.captured", payment, payment["amount_minor"])
    return True


def mark_refunded(conn: Connection, payment: dict, amount_minor: int, provider_status: str | None) -> None:
    """Book a refund; the refundable amount is checked in the same statement that adds to it,
    so two concurrent refunds can never refund more than was captured."""
    now = time.time()
    moved = _REFUND.first(conn, {"b_id": payment["id"], "b_amount": amount_minor, "b_status": provider_status,
                                 "b_now": now})
    if moved is None:
        raise OverRefundError(f"payment {payment['id']} cannot take a refund of {amount_minor}")
    ledger.post(conn, payment["id"], "refund", [
        Posting("merchant_payable", payment["currency"], amount_minor),
        Posting(f"provider_receivable:{payment['provider']}", payment["currency"], -amount_minor)])
    _announce(conn, "payment.refunded", payment, amount_minor)
    audit.append(conn, payment["kind"], payment["id"], "refund",
                 {"state": "captured", "refunded_minor": moved["refunded_minor"] - amount_minor,
                  "provider_status": payment.get("provider_status")},
                 {"state": moved["state"], "refunded_minor": moved["refunded_minor"],
                  "provider_status": provider_status}, now)


class OverRefundError(ValueError):
    pass


def public(payment: dict) -> dict:
    """What the API returns: no principal, money as minor units + currency."""
    return {k: payment[k] for k in ("id", "kind", "state", "provider", "method", "amount_minor", "refunded_minor",
                                    "currency", "reference", "provider_ref", "provider_status", "risk_decision",
                                    "created_at")}
