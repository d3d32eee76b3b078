"""The instrumentation's failure path (moneypath.instrument._failures): a failure inside a recording method, a broken
backend or a non-finite value is counted and swallowed, never raised at the caller."""

from __future__ import annotations

import pytest

from moneypath.instrument.exposition import render
from tests.support.signals import errors, value


@pytest.mark.parametrize(
    "bad_call",
    [
        lambda mp: mp.record_authorization("acme", "card", "approved", "slow"),   # not a number
        lambda mp: mp.record_authorization(["acme"], "card", "approved", 0.1),    # unhashable label
        lambda mp: mp.set_circuit_state("acme", "melted"),                        # not in the enum
        lambda mp: mp.count("no_such_signal_total"),                              # unknown key
        lambda mp: mp.count_dead_letter("notifications", -1),                     # counters only go up
        lambda mp: mp.observe("queue_depth", 1.0, queue="notifications"),         # gauge has no observe
    ],
)
def test_failures_inside_instrumentation_are_counted_and_swallowed(mp, bad_call):
    bad_call(mp)  # must not raise
    assert errors(mp) == 1
    mp.record_authorization("acme", "card", "approved", 0.1)  # still works afterwards
    assert value(mp, "authorizations_total", provider="acme", method="card", outcome="approved") == 1


def test_a_broken_backend_child_never_breaks_the_caller(mp, monkeypatch):
    class Exploding:
        def observe(self, *a):
            raise OSError("disk full")

        def inc(self, *a):
            raise OSError("disk full")

    family = mp.families["authorization_duration_seconds"]
    monkeypatch.setattr(family, "_bind", lambda values: Exploding())
    with mp.time_authorization("globex", "card") as auth:
        auth.outcome = "approved"
    assert errors(mp) == 1


@pytest.mark.parametrize("call", [
    lambda mp: mp.record_authorization("acme", "card", "approved", float("nan")),
    lambda mp: mp.record_authorization("acme", "card", "approved", -0.1),
    lambda mp: mp.record_ledger_write("committed", float("inf")),
    lambda mp: mp.add_cost("infrastructure", float("nan")),
    lambda mp: mp.set_ledger_imbalance("USD", float("nan")),
    lambda mp: mp.record_fraud_decision("approve", 7.0),
    lambda mp: mp.count("dead_letters_total", float("inf"), queue="notifications"),
    lambda mp: mp.count_shed("normal", float("nan")),
    lambda mp: mp.count_http("/healthz", "GET", 503, float("inf")),
    lambda mp: mp.count_http("/healthz", "GET", 503, -5),
])
def test_non_finite_values_are_refused_and_counted_not_recorded(mp, call):
    call(mp)
    assert errors(mp) == 1
    body = render(mp.registry, "")[0].decode()
    assert "NaN" not in body and "+Inf " not in body.replace('le="+Inf"', "")
