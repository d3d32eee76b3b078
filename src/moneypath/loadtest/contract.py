"""The contract between a locustfile and the gates: request names, and which SLOs judge authorizations.

Request names the locustfile reports and the gates read: "<action> [<provider>]" (`request_name`;
the latency gates read the `authorize` ones, the failure gates every final outcome). The provider
is what is known: the one the service's answer names (its JSON's top-level `provider`, when it is
one of the scenario file's), else the one the load generator drew for the order, which the
service may have routed elsewhere: "authorize [requested acme]" (`answered_by` renames a request
once its answer is in). Attempts a
client retries end in ATTEMPT and do not count for the failure ratio (which judges what the
client finally got, request type RETRIED); CHECK entries are invariants the client verified. A
request the service refused to take (503 or 429 with Retry-After: load shed at the door) is
request type REFUSED: a failure for the failure gates, left out of the latency histograms (its
fast answer would flatter them), and the refusals the overload gates judge.
moneypath.loadtest.user.PaymentUser names its requests so.
"""

from __future__ import annotations

from moneypath.catalog import Catalog, Slo
from moneypath.catalog.conventions import Key

ACTIONS = ("authorize", "capture", "refund", "payout")
ATTEMPT = " (attempt)"
RETRIED = "RETRIED"
CHECK = "CHECK"
REFUSED = "REFUSED"
DUPLICATE_CHECK = "idempotency: one payment per key"
REPLAY_UNANSWERED = "idempotency: replay unanswered"  # a failed CHECK: every replay attempt of a key failed


REQUESTED = "requested "  # in a request name: the generator's draw, not a provider the service named


def request_name(action: str, provider: str) -> str:
    """The name a request goes out under: the provider the order asked for, labelled as such."""
    return f"{action} [{REQUESTED}{provider}]"


def answered_by(name: str, provider: str) -> str:
    """`name` with the provider the service's answer named: "authorize [requested acme]" → "authorize [globex]"."""
    head, _, rest = name.partition("[")
    return f"{head}[{provider}]{rest.partition(']')[2]}" if rest else name


# The authorization histogram and counter are read from the SLOs themselves (the latency SLO's
# `signal`, the availability SLO's good/total selectors); these two keys only pick which SLOs are
# the authorization ones.
AUTHORIZATION_LATENCY = Key.AUTHORIZATION_DURATION_SECONDS
AUTHORIZATIONS = Key.AUTHORIZATIONS_TOTAL


def _slo_on(c: Catalog, signal: str, latency: bool) -> tuple[str, Slo] | None:
    """The SLO on `signal`; else, when the catalog has exactly one SLO of that kind, that one."""
    kind = [(key, slo) for key, slo in c.slos.items()
            if (slo.sli.latency is not None if latency else slo.total is not None)]
    for key, slo in kind:
        if (slo.sli.latency.signal if latency else slo.total.signal) == signal:
            return key, slo
    return kind[0] if len(kind) == 1 else None


def latency_slo(c: Catalog) -> tuple[str, Slo] | None:
    return _slo_on(c, AUTHORIZATION_LATENCY, latency=True)


def availability_slo(c: Catalog) -> tuple[str, Slo] | None:
    return _slo_on(c, AUTHORIZATIONS, latency=False)
