"""The base class of a locustfile for your own payment API: subclass `PaymentUser`, define the
endpoints your API has, and `moneypath loadtest SCENARIO --locustfile FILE` loads it and judges the
run against your catalog's SLOs. A whole locustfile:

    from moneypath.loadtest.in_locust.user import PaymentUser


    class Buyer(PaymentUser):
        def authorize(self, order):
            return self.post("authorize", order, "/charges", id_from="id", json={
                "provider": order.provider, "currency": order.currency, "method": order.method,
                "amount_minor": order.amount_minor, "reference": order.reference})

        def capture(self, payment):  # only if your API captures separately
            return self.post("capture", payment, f"/charges/{payment.id}/capture")

A payment of several calls (a checkout that passes an id along; a GraphQL API answering failures with
HTTP 200): name a request template instead of defining authorize, `template = "requests/shop.yaml"`
(relative to the locustfile; the drills' format, moneypath.formats.requests): its flow's steps run in
turn, each judged by its failure predicates, and the flow is counted once (moneypath.loadtest.in_locust.flows).

Endpoints (define those your API has; each returns what `self.post` returned, or None when the
payment cannot go on):
    authorize(self, order)                  a new payment; what it returns may be captured
    capture(self, payment)                  what it returns may be refunded
    refund(self, payment, amount_minor)     part or all of what is left
    payout(self, order)                     money out
An `Order` holds provider, currency, method, amount_minor, reference and correlation_id, drawn
by the weights of the scenario file (providers, currencies, methods, amount_minor); a `Payment`
holds id, provider, amount_minor, correlation_id and the JSON answer.

Requests: `self.post(action, subject, path, json=None, id_from="id")` and `self.get(action,
subject, path)` name the request "<action> [<provider>]" (the names the gates read: the latency
gates judge "authorize [...]", the failure gates every final outcome): the provider your answer
names (a top-level `provider` field), else "[requested <provider>]", the one drawn for the order,
which your service may have routed elsewhere. They send `subject`'s
correlation id (moneypath.protocol.correlation_header.HEADER), a fresh idempotency key on every POST,
and "authorization: Bearer $MONEYPATH_TOKEN" (none with --no-auth or without a token). In a
scenario with `retry:` each POST is retried with the same key (capped exponential backoff, full
jitter; attempts named "... (attempt)", the final outcome request type RETRIED) and replayed once
more, which must answer with the same id (CHECK "idempotency: one payment per key").

The scenario's `user:` decides what a step is: `checkout` one endpoint chosen by the file's `mix:`
among those you define (and what is possible now: a capture needs an authorized payment), a
`retry_storm` capture-else-authorize with retries, `healthz` a GET of `health_path`. Each user
sends rate / users requests per second (`--rate`, `--concurrency`); the scenario's shape sets
the number of users over time. Your own `@task` methods run beside the step, by Locust's weights.

Importing this module registers moneypath's Locust options and hooks (moneypath.loadtest.in_locust.harness):
the scenario shape, the scenario's faults (set when the test starts, cleared when it stops) and
the Prometheus exporter. It imports Locust: only a Locust process imports it.
"""

from __future__ import annotations

import itertools
import time

from locust import FastHttpUser, events, task
from locust.runners import WorkerRunner

from moneypath.loadtest.in_locust import harness, run_settings
from moneypath.loadtest.in_locust.client import Order, Payment, PaymentClient, mix_problems
from moneypath.loadtest.in_locust.pacing import Pacer

__all__ = ["Order", "Payment", "PaymentUser"]


class PaymentUser(PaymentClient, FastHttpUser):
    """A Locust user of a payment API; subclass it and define its endpoints (see the module's doc)."""

    abstract = True

    _spawned = itertools.count()  # users of this process so far: which instance the next one sends to

    def __init__(self, environment):
        s = run_settings.settings(environment)
        if s.hosts:  # several instances: a host of its own per user, read by FastHttpUser.__init__ (no balancer hop)
            self.host = s.host_of(next(PaymentUser._spawned))
        if s.scenario.retry is not None:  # read by FastHttpUser.__init__: clients that give up early
            self.network_timeout = s.scenario.retry.timeout_s
            self.connection_timeout = max(1.0, self.network_timeout)
        super().__init__(environment)
        self.begin(s)
        self._pacer = Pacer(s.pace)

    def on_start(self):
        # Start at a random phase of the pacing interval, as real clients do: users spawned
        # together would otherwise send their requests in lockstep bursts (see pacing.py).
        if not self.s.closed_loop:
            time.sleep(self._pacer.first_wait())

    def wait_time(self):
        """The pace (none in a closed loop), or longer after a refusal with Retry-After."""
        paced = 0.0 if self.s.closed_loop else self._pacer.next_wait()
        return max(paced, self.not_before - time.perf_counter())

    @task
    def scenario_step(self):
        self.step()


@events.init.add_listener
def _check_users(environment, **_kwargs):
    """Before the run: each PaymentUser can run the scenario; say which of the mix's actions it leaves out."""
    if environment.parsed_options is None or isinstance(environment.runner, WorkerRunner):
        return
    s = run_settings.settings(environment)
    for cls in environment.user_classes:
        if not issubclass(cls, PaymentUser):
            continue
        problem, left_out = mix_problems(cls, s)
        if problem:
            raise SystemExit(f"moneypath: {problem}")
        if left_out:
            harness.log.warning("%s defines no %s: the mix's weight for %s is not sent", cls.__name__,
                                ", ".join(left_out), "them" if len(left_out) > 1 else "it")
