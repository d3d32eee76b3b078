"""Liveness: GET /healthz. (/metrics is the MoneyPath exposition app, added by create_app when instrumented.)"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from moneypath.reference.refservice import openapi

router = APIRouter()


class Health(BaseModel):
    status: Literal["ok"]


@router.get("/healthz", response_model=Health, responses=openapi.refusals())
async def healthz():
    return {"status": "ok"}
