"""Traffic for a running stack in tests: steady payments through the reference service's API, and faults set
and cleared through its fault API."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence

import httpx

from moneypath.protocol.tokens import issue


def fault(client: httpx.Client, base: str, name: str, headers: dict, **params) -> None:
    r = client.put(f"{base}/admin/faults/{name}", json=params, headers=headers)
    assert r.status_code == 200, r.text


def clear(client: httpx.Client, base: str, name: str, headers: dict) -> None:
    assert client.delete(f"{base}/admin/faults/{name}", headers=headers).status_code == 200


def payments_for(client: httpx.Client, svc: str, write: dict, seconds: float) -> int:
    """Authorize, capture, refund and pay out across both providers; a few replays. Returns requests sent."""
    sent, deadline, i = 0, time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        i += 1
        provider = ("acme", "globex")[i % 2]
        key = uuid.uuid4().hex
        body = {"amount_minor": 1000 + i, "currency": ("USD", "EUR", "GBP")[i % 3], "provider": provider,
                "reference": f"signals-{key[:8]}"}
        auth = client.post(f"{svc}/v1/payments/authorize", json=body, headers={**write, "idempotency-key": key})
        sent += 1
        if i % 5 == 0:
            client.post(f"{svc}/v1/payments/authorize", json=body, headers={**write, "idempotency-key": key})
        if auth.status_code == 201 and auth.json()["state"] == "authorized":
            pid = auth.json()["id"]
            cap = client.post(f"{svc}/v1/payments/{pid}/capture", headers={**write, "idempotency-key": f"c{key}"})
            if cap.status_code == 200 and i % 3 == 0:
                client.post(f"{svc}/v1/payments/{pid}/refund", json={"amount_minor": 100},
                            headers={**write, "idempotency-key": f"r{key}"})
            client.get(f"{svc}/v1/payments/{pid}", headers=write)
        if i % 7 == 0:
            client.post(f"{svc}/v1/payouts", json=body, headers={**write, "idempotency-key": f"p{key}"})
        sent += 1
    return sent


def authorize_until(service: str, secret: bytes, stop: threading.Event, per_s: float,
                    providers: Sequence[str] = ("acme", "globex")) -> None:
    """Authorizations at `per_s` a second, taking the providers in turn, until `stop` is set (a thread's target)."""
    token = issue(secret, "merchant_1", ["payments:write"], ttl_s=3600)
    with httpx.Client(base_url=service, timeout=10) as client:
        i = 0
        while not stop.is_set():
            client.post("/v1/payments/authorize", headers={"authorization": f"Bearer {token}",
                                                           "idempotency-key": uuid.uuid4().hex},
                        json={"amount_minor": 1000 + i, "currency": "EUR", "provider": providers[i % len(providers)],
                              "reference": f"load-{i}"})
            i += 1
            stop.wait(1 / per_s)
