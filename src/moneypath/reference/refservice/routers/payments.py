"""Payments: authorize, capture, refund (idempotent, with an `Idempotency-Key`) and read one.

The state changes return the answer booking.py stored (a Response): FastAPI does not validate a
returned Response, so `response_model` declares the body in the document at no cost per payment;
the read returns a dict, validated against it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from moneypath.reference.refservice import limits, openapi, payment_state, reservations
from moneypath.reference.refservice.db import PaymentRow
from moneypath.reference.refservice.dependencies import Authorized, Caller, authorized, require_scope
from moneypath.reference.refservice.problems import ApiProblem, provider_failed
from moneypath.reference.refservice.reservations import Holder
from moneypath.reference.refservice.services import Services

router = APIRouter()


class AuthorizeRequest(limits.RequestBody):
    amount_minor: limits.Amount
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    provider: str
    method: Literal["card", "bank_transfer", "wallet"] = "card"
    reference: limits.Reference


class RefundRequest(limits.RequestBody):
    amount_minor: limits.Amount


class Payment(BaseModel):
    """A payment as the API shows it (read by id, a payout too): money in minor units of its currency."""

    id: str
    kind: Literal["payment", "payout"]
    state: Literal["authorized", "declined", "held", "captured", "refunded", "paid"]
    provider: str
    method: Literal["card", "bank_transfer", "wallet"]
    amount_minor: int
    refunded_minor: int
    currency: str
    reference: str
    provider_ref: str | None = Field(description="The provider's id; none when the payment never reached it.")
    provider_status: str | None
    risk_decision: Literal["approve", "review", "decline", "allow", "hold"] | None = Field(
        description="Fraud screening: approve, review or decline, or the fallback (allow, hold) when it did "
                    "not answer; none for a payout.")
    created_at: float | SkipJsonSchema[None] = Field(None, description="Unix seconds; not in the authorize answer.")


Writer = Annotated[Caller, Depends(require_scope("payments:write"))]
Reader = Annotated[Caller, Depends(require_scope("payments:read"))]
AuthorizeCall = Annotated[Authorized[AuthorizeRequest], Depends(authorized("payments:write", AuthorizeRequest))]
RefundCall = Annotated[Authorized[RefundRequest], Depends(authorized("payments:write", RefundRequest))]


async def load(svc: Services, who: str, payment_id: str) -> dict:
    def read():
        # begin(), not connect(): a read ends in COMMIT, not ROLLBACK. psycopg deallocates every statement it
        # prepared on a connection at a ROLLBACK, so reads that rolled back on this engine would have PostgreSQL plan
        # the bookings' statements afresh almost every time.
        with svc.engine.begin() as conn:
            return payment_state.get(conn, payment_id, who)
    row = await svc.in_db(read)
    if row is None:
        raise ApiProblem(404, "payment-not-found", "Payment not found", f"no payment {payment_id}")
    return row


@dataclass(frozen=True)
class HeldOperation:
    """An operation that holds part of a payment before the provider is called: its name, the rule that allows
    it (reservations), and the type and title of the 409 when the rule refuses."""

    operation: str
    allows: reservations.Rule
    problem_type: str
    title: str


CAPTURE = HeldOperation("capture", reservations.capturable, "payment-not-capturable", "Cannot capture")
REFUND = HeldOperation("refund", reservations.refundable, "payment-not-refundable", "Cannot refund")


async def hold(svc: Services, holder: Holder, payment_id: str, held: HeldOperation, amount: int) -> dict:
    """Reserve `amount` of the operation on the payment before the provider is called (reservations):
    its row; 404 when there is none, 409 when it cannot take the amount now."""
    def reserve():
        with svc.claims.begin() as conn:  # no effect yet: the claims' engine, which need not sync
            return reservations.reserve(conn, holder, payment_id, held.operation, amount, held.allows)
    try:
        row = await svc.in_db(reserve)
    except reservations.NotReservable as exc:
        raise ApiProblem(409, held.problem_type, held.title, str(exc)) from None
    if row is None:
        raise ApiProblem(404, "payment-not-found", "Payment not found", f"no payment {payment_id}")
    return row


@router.post("/v1/payments/authorize", status_code=201, response_model=Payment,
             responses=openapi.refusals(401, 403, 409, 415, 422, *openapi.PROVIDER),
             openapi_extra=openapi.state_change("payments:write", "authorize", 201))
async def authorize(request: Request, call: AuthorizeCall):
    who, svc, body = call
    adapter = svc.adapter_for(body.provider)
    limits.require_currency(svc.currencies, body.currency)
    mp = svc.mp

    async def work(holder):
        screened = await svc.risk.screen(body.amount_minor, body.reference)
        provider_ref = provider_status = None
        if not screened.proceeds:  # declined as fraud, or held because screening did not answer
            state = "declined" if screened.decision == "decline" else "held"
        else:
            with mp.time_authorization(body.provider, body.method) as auth:
                result = await adapter.authorize(body.amount_minor, body.currency, body.reference,
                                                holder.provider_key)
                auth.outcome = result.outcome if result.outcome in ("approved", "declined", "timeout") else "error"
            if result.outcome not in ("approved", "declined"):
                provider_failed(result.outcome, body.provider)
            state = "authorized" if result.outcome == "approved" else "declined"
            provider_ref, provider_status = result.provider_ref, result.provider_status
        row_id = payment_state.new_id("pay")  # known before booking: the stored response carries it

        def book(conn):
            row: PaymentRow = {"id": row_id, "principal": who, "kind": "payment", "state": state,
                               "provider": body.provider, "method": body.method, "amount_minor": body.amount_minor,
                               "currency": body.currency, "reference": body.reference, "provider_ref": provider_ref,
                               "provider_status": provider_status, "risk_decision": screened.decision}
            payment_state.create(conn, row)

        response = {"id": row_id, "kind": "payment", "state": state, "provider": body.provider,
                    "method": body.method, "amount_minor": body.amount_minor, "refunded_minor": 0,
                    "currency": body.currency, "reference": body.reference, "provider_ref": provider_ref,
                    "provider_status": provider_status, "risk_decision": screened.decision}
        return 201, response, book

    return await svc.idempotent(request, who, "authorize", body.model_dump(), work)


@router.post("/v1/payments/{payment_id}/capture", response_model=Payment,
             responses=openapi.refusals(401, 403, 404, 409, 415, 422, *openapi.PROVIDER),
             openapi_extra=openapi.state_change("payments:write", "capture", 200))
async def capture(request: Request, payment_id: str, caller: Writer):
    who, svc = caller

    async def work(holder):
        row = await load(svc, who, payment_id)
        if row["state"] == "captured":  # already booked, e.g. from the provider's webhook after a timeout
            return 200, payment_state.public(row), lambda conn: None
        # one capture at a time reaches the provider: a concurrent one is answered 409 here
        row = await hold(svc, holder, payment_id, CAPTURE, row["amount_minor"])
        result = await svc.adapter_for(row["provider"]).capture(row["provider_ref"], row["amount_minor"],
                                                                row["currency"], holder.provider_key)
        if result.outcome != "succeeded":
            provider_failed(result.outcome, row["provider"])
        captured = {**row, "state": "captured", "provider_status": result.provider_status}

        def book(conn):
            reservations.release(conn, holder)
            # False: the provider's webhook booked it first, and counted the fee then.
            if payment_state.mark_captured(conn, row, result.provider_status):
                return lambda: svc.cost.provider_fee(row["provider"], row["amount_minor"], row["currency"])

        return 200, payment_state.public(captured), book

    return await svc.idempotent(request, who, "capture", {"payment_id": payment_id}, work)


@router.post("/v1/payments/{payment_id}/refund", response_model=Payment,
             responses=openapi.refusals(401, 403, 404, 409, 415, 422, *openapi.PROVIDER),
             openapi_extra=openapi.state_change("payments:write", "refund", 200))
async def refund(request: Request, payment_id: str, call: RefundCall):
    who, svc, body = call

    async def work(holder):
        # the amount is held before the provider is asked: concurrent refunds never ask for more than remains
        row = await hold(svc, holder, payment_id, REFUND, body.amount_minor)
        result = await svc.adapter_for(row["provider"]).refund(row["provider_ref"], body.amount_minor,
                                                               row["currency"], holder.provider_key)
        if result.outcome != "succeeded":
            provider_failed(result.outcome, row["provider"])
        refunded = row["refunded_minor"] + body.amount_minor
        after = {**row, "refunded_minor": refunded,
                 "state": "refunded" if refunded == row["amount_minor"] else row["state"]}

        def book(conn):
            reservations.release(conn, holder)
            payment_state.mark_refunded(conn, row, body.amount_minor, result.provider_status)

        return 200, payment_state.public(after), book

    return await svc.idempotent(request, who, "refund", {"payment_id": payment_id, **body.model_dump()}, work)


@router.get("/v1/payments/{payment_id}", response_model=Payment, responses=openapi.refusals(401, 403, 404),
            openapi_extra=openapi.scoped("payments:read"))
async def get_payment(payment_id: str, caller: Reader):
    who, svc = caller
    return payment_state.public(await load(svc, who, payment_id))
