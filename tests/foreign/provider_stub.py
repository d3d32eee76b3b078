"""A payment provider as the ticket shop sees it, reduced to what a test needs: `POST /authorize`
approves; `POST /fault?error_rate=R` makes that share of calls answer 503 and `POST /fault?decline_rate=D`
that share answer 402 declined (issuers say no; 0 clears either). The second is a drill's hook fault.
An order charged a second time is charged again, and the answer says so (`"duplicate_of"`, the first charge), as a
provider that dedupes nothing but reports a repeated order reference would."""

from __future__ import annotations

import random

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()
state = {"error_rate": 0.0, "decline_rate": 0.0}


charged: dict[str, int] = {}  # order reference → charges approved for it


@app.post("/authorize")
async def authorize(request: Request):
    if random.random() < state["error_rate"]:
        return JSONResponse({"error": "unavailable"}, status_code=503)
    if random.random() < state["decline_rate"]:
        return JSONResponse({"status": "declined"}, status_code=402)
    order = str((await request.json()).get("order", ""))
    charged[order] = charged.get(order, 0) + 1
    return {"status": "approved", **({"duplicate_of": order} if order and charged[order] > 1 else {})}


@app.post("/fault")
async def fault(error_rate: float | None = None, decline_rate: float | None = None):
    for name, value in (("error_rate", error_rate), ("decline_rate", decline_rate)):
        if value is not None:
            state[name] = value
    return state
