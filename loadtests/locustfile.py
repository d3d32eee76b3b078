"""Locust load for moneypath's reference payment service (moneypath.reference.refservice): this
repository's project's locustfile, where `moneypath init` writes a team's, so `moneypath loadtest`
run here finds it beside the catalog. Its scenarios are in scenarios.yaml beside this file
(checkout, peak, spike, soak, overload, retry_storm, slow_provider, healthz); see README.md here.

    locust -f loadtests/locustfile.py --state-dir .moneypath --scenario checkout --rate 20 --headless

Everything but the service's API comes from moneypath.loadtest.in_locust.user.PaymentUser: request names,
headers, retries, the mix, the shape, faults and the exporter. Credentials: --token or
$MONEYPATH_TOKEN (scopes payments:write payments:read), or minted from $MONEYPATH_TOKEN_SECRET or
the secrets of --state-dir (a stack started by `moneypath up`, which also supplies --host and the
provider simulator's URL).
"""

from moneypath.loadtest.in_locust.user import PaymentUser


class ReferenceUser(PaymentUser):
    """POST /v1/payments/authorize, /v1/payments/{id}/capture, /v1/payments/{id}/refund, /v1/payouts."""

    not_counted = {"risk_decision": ["decline", "hold"]}  # screened out before any provider call: never counted

    def authorize(self, order):
        payment = self.post("authorize", order, "/v1/payments/authorize", json={
            "amount_minor": order.amount_minor, "currency": order.currency, "provider": order.provider,
            "method": order.method, "reference": order.reference})
        return payment if payment and payment.answer.get("state") == "authorized" else None

    def capture(self, payment):
        captured = self.post("capture", payment, f"/v1/payments/{payment.id}/capture")
        return captured if captured and captured.answer.get("state") == "captured" else None

    def refund(self, payment, amount_minor):
        return self.post("refund", payment, f"/v1/payments/{payment.id}/refund", json={"amount_minor": amount_minor})

    def payout(self, order):
        return self.post("payout", order, "/v1/payouts", json={
            "amount_minor": order.amount_minor, "currency": order.currency, "provider": order.provider,
            "reference": order.reference})
