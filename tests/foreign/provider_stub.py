"""A payment provider as the ticket shop sees it, reduced to what a test needs: `POST /authorize`
approves, and `POST /fault?error_rate=R` makes that share of calls answer 503 (R=0 clears it)."""

from __future__ import annotations

import random

from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()
state = {"error_rate": 0.0}


@app.post("/authorize")
async def authorize():
    if random.random() < state["error_rate"]:
        return JSONResponse({"error": "unavailable"}, status_code=503)
    return {"status": "approved"}


@app.post("/fault")
async def fault(error_rate: float):
    state["error_rate"] = error_rate
    return state
