"""A second team's own payment service, unlike the ticket shop: a charges API whose providers run in
process (no HTTP, no circuit breaker, no webhooks), charging in USD, JPY and KWD, with its own SQLite
tables (`charges`, `journal_entries`: double entry, one debit and one credit per charge) and an admin hook
its team uses to rehearse a provider failing (`POST /admin/chaos?psp=adyen&fail_rate=0.5`).

    CHARGES_CATALOG=ops/moneypath.yaml CHARGES_DB=/tmp/charges.db uvicorn tests.charges.service:app --port 8080
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from moneypath.instrument import MoneyPath, MoneyPathMiddleware

mp = MoneyPath.from_catalog(os.environ.get("CHARGES_CATALOG", "moneypath.yaml"))
DB = os.environ.get("CHARGES_DB", "charges.db")
app = FastAPI()
app.add_middleware(MoneyPathMiddleware, moneypath=mp)
app.add_route("/metrics", mp.metrics_app())


def _connect() -> sqlite3.Connection:
    return sqlite3.connect(DB, check_same_thread=False, isolation_level=None)


with _connect() as _conn:
    _conn.executescript("""
        CREATE TABLE IF NOT EXISTS charges (charge_id TEXT PRIMARY KEY, psp TEXT NOT NULL, ccy TEXT NOT NULL,
                                            amount INTEGER NOT NULL, state TEXT NOT NULL, created REAL NOT NULL);
        CREATE TABLE IF NOT EXISTS journal_entries (charge_id TEXT NOT NULL, account TEXT NOT NULL,
                                                    ccy TEXT NOT NULL, minor INTEGER NOT NULL);
    """)
conn = _connect()


class InProcessProvider:
    """A provider SDK stand-in: answers in a few milliseconds, fails `fail_rate` of the calls."""

    def __init__(self) -> None:
        self.fail_rate = 0.0

    def charge(self, amount: int) -> str:
        time.sleep(random.uniform(0.002, 0.01))
        if random.random() < self.fail_rate:
            raise ConnectionError("provider unavailable")
        return "declined" if amount % 97 == 0 else "approved"


# klarna is new in the code and not yet in the catalog: what a team's first scrape must show, not hide.
PSPS = {name: InProcessProvider() for name in ("stripe", "adyen", "klarna")}


def problem(status: int, title: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": title, "status": status}, status_code=status,
                        media_type="application/problem+json")


def _book(charge_id: str, psp: str, ccy: str, amount: int) -> None:
    with mp.time_ledger_write():  # async handlers: one writer, the event loop's thread
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO charges VALUES (?, ?, ?, ?, 'approved', ?)", (charge_id, psp, ccy, amount, time.time()))
        conn.executemany("INSERT INTO journal_entries VALUES (?, ?, ?, ?)",
                         [(charge_id, "customer", ccy, -amount), (charge_id, "merchant", ccy, amount)])
        conn.execute("COMMIT")
        total = conn.execute("SELECT COALESCE(SUM(minor), 0) FROM journal_entries WHERE ccy = ?", (ccy,)).fetchone()
    mp.set_ledger_imbalance(ccy, total[0])
    mp.record_detector_run("ledger_balance")  # the imbalance was just computed from the journal: a run


@app.post("/v2/charges")
async def create_charge(request: Request):
    body = await request.json()
    psp, ccy, amount = body.get("psp"), body.get("ccy"), body.get("amount")
    if psp not in PSPS or ccy not in mp.catalog.currencies or not isinstance(amount, int) or amount <= 0:
        return problem(422, "psp, ccy and a positive whole amount are required")
    method = body.get("method", "card")
    started = time.perf_counter()
    try:
        outcome = PSPS[psp].charge(amount)
    except ConnectionError:
        outcome = "error"
    seconds = time.perf_counter() - started
    mp.record_provider_call(psp, "authorize", "success" if outcome != "error" else "error", seconds)
    mp.record_authorization(psp, method, outcome, seconds)
    if outcome == "error":
        return problem(502, f"{psp} is unavailable")
    charge_id = f"ch_{uuid.uuid4().hex[:16]}"
    if outcome == "approved":
        _book(charge_id, psp, ccy, amount)
    return JSONResponse({"charge": {"id": charge_id, "state": outcome}}, status_code=201)


@app.get("/v2/charges/{charge_id}")
async def get_charge(charge_id: str):
    row = conn.execute("SELECT charge_id, state FROM charges WHERE charge_id = ?", (charge_id,)).fetchone()
    return {"charge": {"id": row[0], "state": row[1]}} if row else problem(404, "no such charge")


@app.post("/admin/chaos")
async def chaos(psp: str, fail_rate: float):
    if psp not in PSPS or not 0 <= fail_rate <= 1:
        return problem(422, "a known psp and 0 <= fail_rate <= 1")
    PSPS[psp].fail_rate = fail_rate
    return {"psp": psp, "fail_rate": fail_rate}


@app.get("/healthz")
async def healthz():
    return {"ok": True}


for _ccy in mp.catalog.currencies:
    mp.set_ledger_imbalance(_ccy, 0)
