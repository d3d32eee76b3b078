"""A team's own payment service, not moneypath's reference one: a ticket shop that charges in JPY and
KWD through two providers of its own (Komoju and KNET, here small HTTP stubs), with its own API
(`POST /charges`, `GET /charges/{charge_id}`), no fraud screening, queues, payouts, reconciliation or
webhooks. It uses moneypath the way docs/getting-started.md shows, and nothing else.

`POST /admin/fault?charge_twice_rate=R` ships a bad release: that share of charges is sent to the provider twice,
and the provider's answer to the second (`duplicate_of`) makes the shop count a duplicate charge (a canary drill's
hook fault). A client retrying a charge is not counted here (the ambiguous-timeout drill's premise).

Its two detectors report their runs (`mp.record_detector_run`): the duplicate check reads every approved answer, and a
balance check every second compares the money the providers approved with the charges the shop keeps.
`SHOP_DETECTORS=off` is the same shop without either: its counters stay at 0 and its imbalance at the 0 it set at
start, and nothing reports a run (the liar's matrix, tests/integration/liars/test_detector_never_runs.py).

    SHOP_CATALOG=ops/moneypath.yaml SHOP_PROVIDERS=komoju=http://127.0.0.1:9101,knet=http://127.0.0.1:9102 \\
        uvicorn tests.foreign.ticketshop:app --port 8080
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from moneypath.catalog.pan import mentions_card_number
from moneypath.instrument import MoneyPath, MoneyPathMiddleware

mp = MoneyPath.from_catalog(os.environ.get("SHOP_CATALOG", "moneypath.yaml"))
PROVIDERS = dict(item.split("=", 1) for item in os.environ.get("SHOP_PROVIDERS", "").split(",") if item)
DETECTORS = os.environ.get("SHOP_DETECTORS", "on") != "off"
approved: Counter = Counter()  # minor units the providers approved, per currency: what the balance check compares


async def check_balance() -> None:
    """Every second: the charges kept against the money approved, per currency (0 when every approval is kept)."""
    while True:
        kept = Counter()
        for charge in charges.values():
            if charge["status"] == "approved":
                kept[charge.get("currency")] += int(charge.get("amount_minor", 0))
        for currency in mp.catalog.currencies:
            mp.set_ledger_imbalance(currency, approved[currency] - kept[currency])
        mp.record_detector_run("ledger_balance")
        await asyncio.sleep(1.0)


@asynccontextmanager
async def lifespan(app):
    task = asyncio.create_task(check_balance()) if DETECTORS else None
    yield
    if task is not None:
        task.cancel()


app = FastAPI(lifespan=lifespan)
app.add_middleware(MoneyPathMiddleware, moneypath=mp)
app.add_route("/metrics", mp.metrics_app())
client = httpx.AsyncClient(timeout=1.0)
charges: dict[str, dict] = {}
faults = {"charge_twice_rate": 0.0}
for currency in mp.catalog.currencies:
    mp.set_ledger_imbalance(currency, 0)


def problem(status: int, title: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": title, "status": status}, status_code=status,
                        media_type="application/problem+json")


@app.post("/charges")
async def create_charge(request: Request):
    body = await request.json()
    # A charge is kept as sent: text holding a card number (any Luhn-valid 13-19 digits, glued to letters or
    # not) is refused and counted, never stored.
    if any(isinstance(value, str) and mentions_card_number(value) for value in body.values()):
        mp.count_card_number("api", "refused")
        return problem(422, "a field holds a card number")
    provider, currency = body.get("provider"), body.get("currency")
    if provider not in PROVIDERS or currency not in mp.catalog.currencies:
        return problem(422, "unknown provider or currency")
    method = body.get("method", "card")
    started, twice = time.perf_counter(), False
    try:
        answer = await client.post(f"{PROVIDERS[provider]}/authorize", json=body)
        twice = answer.status_code == 200 and random.random() < faults["charge_twice_rate"]  # the bad release's bug
        if twice:
            answer = await client.post(f"{PROVIDERS[provider]}/authorize", json=body)
        outcome = "approved" if answer.status_code == 200 else "declined" if answer.status_code == 402 else "error"
    except httpx.TimeoutException:
        outcome = "timeout"
    except httpx.HTTPError:
        outcome = "error"
    seconds = time.perf_counter() - started
    mp.record_provider_call(provider, "authorize", "success" if outcome in ("approved", "declined") else outcome,
                            seconds)
    mp.record_authorization(provider, method, outcome, seconds)
    if outcome in ("error", "timeout"):
        return problem(502, f"{provider} did not answer")
    if outcome == "approved" and DETECTORS:
        if twice and answer.json().get("duplicate_of"):  # a client's retry is its own
            mp.count_duplicate_charge(provider, currency, int(body.get("amount_minor", 0)))
        mp.record_detector_run("duplicates")  # every approved answer read for a second charge
    with mp.time_ledger_write():
        charge_id = uuid.uuid4().hex
        charges[charge_id] = {"id": charge_id, "status": outcome, **body}
        if outcome == "approved":
            approved[currency] += int(body.get("amount_minor", 0))
    mp.add_cost("provider_fee", 0.02, provider)
    return JSONResponse(charges[charge_id], status_code=201)


@app.get("/charges/{charge_id}")
async def get_charge(charge_id: str):
    return charges.get(charge_id) or problem(404, "no such charge")


@app.post("/admin/fault")
async def set_fault(charge_twice_rate: float = 0.0):
    faults["charge_twice_rate"] = charge_twice_rate
    return faults


@app.get("/healthz")
async def healthz():
    return {"ok": True}
