"""Load for shop, written by `moneypath init`: a subclass of moneypath's PaymentUser that
declares your API's authorization. Request names ("authorize [<provider>]", the names the gates read),
headers (correlation id, idempotency key, bearer token), pacing, the scenario's shape and faults,
retries and the exporter come from the base class; providers, currencies, methods and amounts from
the scenario file beside this one (scenarios.yaml).

    moneypath loadtest checkout --locustfile loadtests/locustfile.py --host http://127.0.0.1:8000 [--no-auth]

--no-auth when your API takes no token (else $MONEYPATH_TOKEN is sent as "authorization: Bearer ...").
Does your API capture or refund separately, or pay out? Define capture(self, payment), refund(self,
payment, amount_minor) or payout(self, order) too (`python -m pydoc moneypath.loadtest.in_locust.user`) and give
them weight in scenarios.yaml's mix.

Is a payment several calls (a checkout whose steps pass an id along, a GraphQL API that answers failures
with HTTP 200)? Instead of authorize, name the drills' request template, whose flow of steps the user runs:
    template = "../runbooks/drills/requests/shop.yaml"
"""

from moneypath.loadtest.in_locust.user import PaymentUser


class Payer(PaymentUser):
    """POST /graphql/: a new payment of the order's provider, currency, method and amount in minor units."""

    def authorize(self, order):
        # TODO: your API's path and request body (order: provider, currency, method, amount_minor, reference).
        # TODO: id_from: where the payment id is in the answer (a dotted path, e.g. data.charge.id).
        return self.post("authorize", order, "/graphql/", id_from="id", json={
            "provider": order.provider, "currency": order.currency, "method": order.method,
            "amount_minor": order.amount_minor, "reference": order.reference})
