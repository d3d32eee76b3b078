"""A stripe-like payment provider for the shop's tests, one process per provider:

    python -m tests.foreign.djangoshop.provider_stub --port 9101 --name paystack

POST /v1/charges                  authorize (capture: false); the Idempotency-Key header returns the same charge
POST /v1/charges/{id}/capture     capture; every capture is recorded, a repeated one too, each with the fee the
                                  provider keeps for it, settled in USD as a stripe-like balance transaction
                                  reports it: {"fee": cents, "fee_currency": "usd"} (2.9 % + 30 cents)
GET  /v1/charges/{id}             the charge with its captures (the provider's records)
GET  /v1/charges[?reference=R]    every charge, or those for one reference (the shop's payment id)
POST /admin/fault                 {"mode": "none"|"error"|"slow"|"decline"|"duplicate_capture", "delay_s": 5,
                                  "operations": ["authorize", "capture"]}: error answers 500, slow waits delay_s
                                  first, decline answers 402 (authorize only), duplicate_capture books each
                                  capture twice (a provider processing one request twice; capture only);
                                  {"fee_factor": 1.4} multiplies every fee from then on (a dearer price: the
                                  release routes to a costlier product), whatever the mode
GET  /health
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MODES = ("none", "error", "slow", "decline", "duplicate_capture")
FEE_PERCENT, FEE_FIXED_CENTS = 2.9, 30  # the price of one capture, in USD
USD_PER_MAJOR = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "JPY": 0.0067, "KRW": 0.00072, "KWD": 3.25}
EXPONENTS = {"JPY": 0, "KRW": 0, "KWD": 3}  # others 2


def fee_cents(amount_minor: int, currency: str, factor: float = 1.0) -> int:
    """The fee for capturing `amount_minor` of `currency`, in US cents: 2.9 % of its USD value plus 30 cents, times
    `factor`."""
    usd = amount_minor / 10 ** EXPONENTS.get(currency, 2) * USD_PER_MAJOR.get(currency, 1.0)
    return round((usd * FEE_PERCENT + FEE_FIXED_CENTS) * factor)


class Provider:
    """The provider's records and its fault setting; every method holds the lock."""

    def __init__(self, name: str):
        self.name = name
        self.lock = threading.Lock()
        self.charges: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}
        self.fault = {"mode": "none", "delay_s": 5.0, "operations": ["authorize", "capture"], "fee_factor": 1.0}

    def fault_for(self, operation: str) -> tuple[str, float]:
        with self.lock:
            if operation in self.fault["operations"]:
                return self.fault["mode"], self.fault["delay_s"]
            return "none", 0.0

    def authorize(self, body: dict, key: str | None) -> dict:
        with self.lock:
            if key and key in self.by_key:
                return self.charges[self.by_key[key]]
            charge = {"id": f"ch_{uuid.uuid4().hex[:20]}", "object": "charge", "provider": self.name,
                      "amount": int(body["amount"]), "currency": str(body["currency"]).upper(),
                      "reference": body.get("reference", ""), "status": "authorized", "captures": [],
                      "created": time.time()}
            self.charges[charge["id"]] = charge
            if key:
                self.by_key[key] = charge["id"]
            return charge

    def capture(self, charge_id: str, body: dict, times: int = 1) -> dict | None:
        with self.lock:
            charge = self.charges.get(charge_id)
            if charge is None:
                return None
            amount = int(body.get("amount", charge["amount"]))
            fee = fee_cents(amount, charge["currency"], self.fault["fee_factor"])
            for _ in range(times):
                charge["captures"].append({"id": f"cap_{uuid.uuid4().hex[:20]}", "created": time.time(),
                                           "amount": amount, "fee": fee, "fee_currency": "usd"})
            charge["status"] = "captured"
            return charge


class Handler(BaseHTTPRequestHandler):
    server: ProviderServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs: the client's pool reuses connections

    def log_message(self, format, *args):  # quiet: the tests read answers, not access logs
        pass

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def _faulted(self, operation: str) -> bool:
        """Apply the fault set for `operation`; True when it answered already."""
        mode, delay = self.server.provider.fault_for(operation)
        if mode == "slow":
            time.sleep(delay)
        elif mode == "error":
            self._answer(500, {"error": {"type": "api_error", "message": "internal error"}})
            return True
        elif mode == "decline" and operation == "authorize":
            self._answer(402, {"error": {"type": "card_error", "code": "card_declined", "message": "declined"}})
            return True
        return False

    def do_GET(self):
        provider, url = self.server.provider, urlsplit(self.path)
        if url.path == "/health":
            return self._answer(200, {"ok": True, "name": provider.name})
        if url.path == "/admin/fault":
            return self._answer(200, provider.fault)
        if url.path == "/v1/charges":
            reference = parse_qs(url.query).get("reference", [None])[0]
            with provider.lock:
                found = [c for c in provider.charges.values() if reference in (None, c["reference"])]
            return self._answer(200, {"object": "list", "data": found})
        match = re.fullmatch(r"/v1/charges/([\w-]+)", url.path)
        if match and match.group(1) in provider.charges:
            with provider.lock:
                return self._answer(200, provider.charges[match.group(1)])
        return self._answer(404, {"error": {"type": "invalid_request_error", "message": "no such resource"}})

    def do_POST(self):
        provider, path = self.server.provider, urlsplit(self.path).path
        try:
            body = self._body()
        except ValueError:
            return self._answer(400, {"error": {"type": "invalid_request_error", "message": "bad JSON"}})
        if path == "/admin/fault":
            if body.get("mode", "none") not in MODES:
                return self._answer(400, {"error": {"message": f"mode is one of {MODES}"}})
            factor = body.get("fee_factor", 1.0)
            if not isinstance(factor, int | float) or isinstance(factor, bool) or factor < 0:
                return self._answer(400, {"error": {"message": "fee_factor is a number, 0 or more"}})
            with provider.lock:
                provider.fault.update({k: body[k] for k in ("mode", "delay_s", "operations", "fee_factor")
                                       if k in body})
                return self._answer(200, provider.fault)
        if path == "/v1/charges":
            if not isinstance(body.get("amount"), int) or not body.get("currency"):
                return self._answer(400, {"error": {"type": "invalid_request_error", "message": "amount, currency"}})
            if self._faulted("authorize"):
                return None
            return self._answer(200, provider.authorize(body, self.headers.get("Idempotency-Key")))
        match = re.fullmatch(r"/v1/charges/([\w-]+)/capture", path)
        if match:
            if self._faulted("capture"):
                return None
            twice = provider.fault_for("capture")[0] == "duplicate_capture"
            charge = provider.capture(match.group(1), body, times=2 if twice else 1)
            if charge is None:
                return self._answer(404, {"error": {"type": "invalid_request_error", "message": "no such charge"}})
            return self._answer(200, charge)
        return self._answer(404, {"error": {"type": "invalid_request_error", "message": "no such resource"}})


class ProviderServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], name: str):
        super().__init__(address, Handler)
        self.provider = Provider(name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A stripe-like provider stub for the Django shop's tests.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--name", default="paystack")
    args = parser.parse_args(argv)
    server = ProviderServer((args.host, args.port), args.name)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
