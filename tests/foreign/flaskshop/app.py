"""The ticket shop's API in Flask (tests/foreign/ticketshop.py is the FastAPI one): `POST /charges` charges through
Komoju or KNET (the provider stubs of tests/foreign, called with `requests`), stores the charge with SQLAlchemy
(SQLite by default), `GET /charges/<charge_id>` reads it back. Instrumented as docs/instrumenting.md's "Flask"
shows, and nothing else: the extension, and the money-path methods on its MoneyPath.

    SHOP_CATALOG=ops/moneypath.yaml SHOP_PROVIDERS=komoju=http://127.0.0.1:9101,knet=http://127.0.0.1:9102 \\
    SHOP_DATABASE_URL=sqlite:////tmp/flaskshop.db PROMETHEUS_MULTIPROC_DIR=/tmp/flaskshop-metrics \\
        gunicorn -c tests/foreign/flaskshop/gunicorn.conf.py -w 2 -k gthread -b 127.0.0.1:8080 \\
        tests.foreign.flaskshop.app:app
"""

from __future__ import annotations

import os
import time
import uuid

import requests
from flask import Flask, request
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.exc import OperationalError

from moneypath.catalog.pan import mentions_card_number
from moneypath.instrument.flask import MoneyPathFlask

app = Flask(__name__)
metrics = MoneyPathFlask(app, catalog=os.environ.get("SHOP_CATALOG", "moneypath.yaml"))
mp = metrics.mp
PROVIDERS = dict(item.split("=", 1) for item in os.environ.get("SHOP_PROVIDERS", "").split(",") if item)

engine = create_engine(os.environ.get("SHOP_DATABASE_URL", "sqlite:///flaskshop.db"), connect_args={"timeout": 10})
tables = MetaData()
charges = Table("charges", tables, Column("id", String(32), primary_key=True), Column("status", String(16)),
                Column("provider", String(32)), Column("currency", String(3)), Column("method", String(32)),
                Column("amount_minor", Integer), Column("reference", String(64)))
try:
    tables.create_all(engine)
except OperationalError:  # the other worker created it first
    pass


def problem(status: int, title: str):
    return {"type": "about:blank", "title": title, "status": status}, status, {"Content-Type": "application/problem+json"}


@app.post("/charges")
def create_charge():
    body = request.get_json(force=True)
    if any(isinstance(value, str) and mentions_card_number(value) for value in body.values()):
        mp.count_card_number("api", "refused")
        return problem(422, "a field holds a card number")
    provider, currency = body.get("provider"), body.get("currency")
    if provider not in PROVIDERS or currency not in mp.catalog.currencies:
        return problem(422, "unknown provider or currency")
    method = body.get("method", "card")
    started = time.perf_counter()
    try:
        answer = requests.post(f"{PROVIDERS[provider]}/authorize", json=body, timeout=1.0)
        outcome = "approved" if answer.status_code == 200 else "declined" if answer.status_code == 402 else "error"
    except requests.Timeout:
        outcome = "timeout"
    except requests.RequestException:
        outcome = "error"
    seconds = time.perf_counter() - started
    mp.record_provider_call(provider, "authorize", "success" if outcome in ("approved", "declined") else outcome,
                            seconds)
    mp.record_authorization(provider, method, outcome, seconds)
    if outcome in ("error", "timeout"):
        return problem(502, f"{provider} did not answer")
    charge = {"id": uuid.uuid4().hex, "status": outcome, "provider": provider, "currency": currency, "method": method,
              "amount_minor": int(body.get("amount_minor", 0)), "reference": str(body.get("order", ""))}
    with engine.begin() as db:
        db.execute(insert(charges).values(**charge))
    mp.add_cost("provider_fee", 0.02, provider)
    return charge, 201


@app.get("/charges/<charge_id>")
def get_charge(charge_id: str):
    with engine.connect() as db:
        row = db.execute(select(charges).where(charges.c.id == charge_id)).mappings().first()
    return dict(row) if row is not None else problem(404, "no such charge")


@app.get("/healthz")
def healthz():
    return {"ok": True}
