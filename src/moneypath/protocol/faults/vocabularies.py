"""What each fault API can set: the fault proxy's, the provider simulator's and the reference service's.

One vocabulary per API, each a function of the names its faults hit (the catalog's providers, the
service's queues), so the processes that serve the faults and the drill-file check that validates a
drill against them read the same table. Every fault also takes `duration_s` (moneypath.protocol.faults.switches).
"""

from __future__ import annotations

from moneypath.protocol.faults.switches import Spec, integer, number, rate

WHERE = ("faultproxy", "providersim", "service")


def proxy_specs(providers: tuple[str, ...]) -> dict[str, Spec]:
    """The fault proxy (moneypath.stack.faultproxy), between a service and its providers."""

    def per_provider(optional=None, **params) -> Spec:
        return Spec(params, target="provider", targets=tuple(providers), optional=optional or {})

    return {
        "error_rate": per_provider({"status": (number(400, 599), 503)}, rate=rate),  # answered by the proxy
        "latency": per_provider(extra_ms=number(0, 60_000)),                          # before forwarding
        "timeout": per_provider(rate=rate, delay_s=number(0, 600)),                   # forwarded; answer held
        "reset": per_provider(rate=rate),                                             # connection closed, not forwarded
        "duplicate_webhooks": per_provider(rate=rate),                                # delivered twice
        "delay_webhooks": per_provider(delay_s=number(0, 600)),                       # delivered late
        "out_of_order_webhooks": per_provider(),                                      # held, sent in reverse pairs
    }


def simulator_specs(providers: tuple[str, ...]) -> dict[str, Spec]:
    """The provider simulator (moneypath.reference.providersim): each fault hits one provider."""

    def per_provider(**params) -> Spec:
        return Spec(params, target="provider", targets=tuple(providers))

    return {
        "error_rate": per_provider(rate=rate),                                     # 503 from the provider's API
        "latency": per_provider(extra_ms=number(0, 60_000)),                       # added to every call
        "timeout_late_success": per_provider(rate=rate, delay_s=number(0, 120)),   # effect now, answer after delay_s
        "decline_spike": per_provider(rate=rate),                                  # also declined: issuers say no
        "duplicate_webhooks": per_provider(rate=rate),                             # same body twice, fresh signatures
        "out_of_order_webhooks": per_provider(),                                   # held, sent in reverse pairs
        "duplicate_capture": per_provider(rate=rate),                              # two settlement lines for one capture
        "settlement_drop": per_provider(rate=rate),                                # lines left out of the file
        "settlement_alter": per_provider(rate=rate, delta_minor=integer),          # amount changed in the file
    }


def service_specs(queues: tuple[str, ...]) -> dict[str, Spec]:
    """The reference service's own faults (off unless it starts with faults enabled)."""
    return {
        "ledger_write_failure": Spec({"rate": rate}),                               # the booking transaction rolls back
        "consumer_failure": Spec({"rate": rate}, target="queue", targets=tuple(queues)),  # outbox delivery fails
        "fraud_spike": Spec({"rate": rate}),                                        # this share of payments scores as fraud
        "risk_latency": Spec({"extra_ms": number(0, 60_000)}),                      # risk screening slows down
        "risk_down": Spec(),                                                        # risk screening fails at once
        "cost_increase": Spec({"factor": number(1, 1000)}),                         # every cost component multiplied
        "request_cost": Spec({"extra_ms": number(0, 1000)}),   # a costlier release: each API request holds the loop longer
        "audit_tamper": Spec(),                          # one past audit event edited in the database; put back when cleared
    }
