"""Load for the ticket shop (tests/foreign/ticketshop.py), written the way a team writes its own: a
subclass of moneypath's PaymentUser that declares the shop's one payment endpoint. Request names,
headers, pacing, the scenario's shape and faults, retries and the exporter come from the base class.

    moneypath loadtest checkout --locustfile tests/foreign/locustfile.py --catalog tests/foreign/moneypath.yaml \\
        --host http://127.0.0.1:8080 --no-auth --no-prometheus

The shop takes no API token (--no-auth) and charges at once: there is no capture or refund to declare.
"""

from moneypath.loadtest.in_locust.user import PaymentUser


class TicketBuyer(PaymentUser):
    """POST /charges: provider, currency, method and amount in minor units; the answer's `id` names the charge."""

    def authorize(self, order):
        return self.post("authorize", order, "/charges", id_from="id", json={
            "provider": order.provider, "currency": order.currency, "method": order.method,
            "amount_minor": order.amount_minor, "reference": order.reference})
