"""An in-process fake of the Django shop's GraphQL checkout (tests/foreign/djangoshop): the three mutations by
operation name, answered as the shop answers them (HTTP 200; a failed step fills its payload's `errors` and
leaves its object null), for httpx.MockTransport. `declining` makes checkoutComplete fail as a provider
decline does; `drop_id` leaves the checkout's id out of checkoutCreate's answer."""

from __future__ import annotations

import itertools
import json

import httpx

from tests.conftest import ROOT

TEMPLATE = ROOT / "tests" / "foreign" / "drills" / "requests" / "djangoshop.yaml"


class FakeShop:
    def __init__(self):
        self.ids = itertools.count(1)
        self.checkouts: dict[str, dict] = {}
        self.calls: list[tuple[str, dict]] = []  # (operation, variables) in order
        self.declining = False
        self.drop_id = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        op, v = body["operationName"], body.get("variables") or {}
        self.calls.append((op, v))
        if op == "CheckoutCreate":
            cid = f"c{next(self.ids)}"
            self.checkouts[cid] = {"total": v["lines"][0]["unitPrice"], "currency": v["currency"]}
            checkout = {"total": {"amount": self.checkouts[cid]["total"], "currency": v["currency"]}}
            if not self.drop_id:
                checkout["id"] = cid
            return self._data("checkoutCreate", checkout=checkout)
        if op == "CheckoutPaymentCreate":
            if v["checkoutId"] not in self.checkouts:
                return self._data("checkoutPaymentCreate", payment=None, errors=[_error("NOT_FOUND")])
            return self._data("checkoutPaymentCreate", payment={"id": f"p{next(self.ids)}", "status": "PENDING"})
        if op == "CheckoutComplete":
            if self.declining:
                return self._data("checkoutComplete", order=None, errors=[_error("PAYMENT_ERROR", "declined")])
            return self._data("checkoutComplete", order={"id": f"o{next(self.ids)}", "paymentStatus": "AUTHORIZED"})
        if op == "Order":
            return httpx.Response(200, json={"data": {"order": {"id": v["id"], "paymentStatus": "CAPTURED"}}})
        return httpx.Response(200, json={"data": None, "errors": [{"message": f"unknown operation {op}"}]})

    @staticmethod
    def _data(field: str, errors=(), **payload) -> httpx.Response:
        return httpx.Response(200, json={"data": {field: {**payload, "errors": list(errors)}}})


def _error(code: str, message: str = "failed") -> dict:
    return {"field": None, "code": code, "message": message}
