"""Liveness: GET /healthz. (/metrics is the MoneyPath exposition app, added by create_app when instrumented.)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()


@router.get("/healthz")
async def healthz():
    return {"status": "ok"}
