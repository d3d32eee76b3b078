"""Payouts: money out to a bank account through a provider (idempotent, with an `Idempotency-Key`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from moneypath.reference.refservice import limits, openapi, payment_state
from moneypath.reference.refservice.db import PaymentRow
from moneypath.reference.refservice.dependencies import Authorized, authorized
from moneypath.reference.refservice.problems import provider_failed

router = APIRouter()


class PayoutRequest(limits.RequestBody):
    amount_minor: limits.Amount
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    provider: str
    reference: limits.Reference


class Payout(BaseModel):
    """A payout as it was paid (read back by id it is a Payment of kind payout)."""

    id: str
    kind: Literal["payout"]
    state: Literal["paid"]
    provider: str
    amount_minor: int
    currency: str
    reference: str
    provider_ref: str | None
    provider_status: str | None


PayoutCall = Annotated[Authorized[PayoutRequest], Depends(authorized("payments:write", PayoutRequest))]


# Returns booking.py's stored Response: response_model declares the body, FastAPI does not validate it.
@router.post("/v1/payouts", status_code=201, response_model=Payout,
             responses=openapi.refusals(401, 403, 409, 415, 422, *openapi.PROVIDER),
             openapi_extra=openapi.state_change("payments:write", "payout", 201))
async def payout(request: Request, call: PayoutCall):
    who, svc, body = call
    adapter = svc.adapter_for(body.provider)
    limits.require_currency(svc.currencies, body.currency)

    async def work(holder):
        result = await adapter.payout(body.amount_minor, body.currency, body.reference, holder.provider_key)
        if result.outcome != "succeeded":
            provider_failed(result.outcome, body.provider)
        row_id = payment_state.new_id("po")
        response = {"id": row_id, "kind": "payout", "state": "paid", "provider": body.provider,
                    "amount_minor": body.amount_minor, "currency": body.currency, "reference": body.reference,
                    "provider_ref": result.provider_ref, "provider_status": result.provider_status}

        def book(conn):
            row: PaymentRow = {"id": row_id, "principal": who, "kind": "payout", "state": "paid",
                               "provider": body.provider, "method": "bank_transfer", "amount_minor": body.amount_minor,
                               "currency": body.currency, "reference": body.reference,
                               "provider_ref": result.provider_ref, "provider_status": result.provider_status}
            payment_state.create(conn, row)

        return 201, response, book

    return await svc.idempotent(request, who, "payout", body.model_dump(), work)
