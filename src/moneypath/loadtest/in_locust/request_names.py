"""The contract between a locustfile and the gates: the names its requests are reported under.

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
A user whose payment is a flow of several calls (moneypath.loadtest.in_locust.flows) reports each step by its own name,
the step that authorizes as "authorize:<step> [...]", and the whole flow once as request type FLOW, named
"<flow> [<provider>]" (e.g. "checkout [requested paystack]"): with flows, the failure gates judge the FLOW
entries (and captures, refunds, payouts); the authorizing step's time is the service's whole call, so the
authorization latency is judged on the service's histogram, and the scenario's flow_p99_ms on the FLOW entries.
moneypath.loadtest.in_locust.user.PaymentUser names its requests so. The actions a request is one of (ACTIONS) and the
SLOs that judge authorizations (`latency_slo`, `availability_slo`) are the scenario file's vocabulary:
moneypath.formats.scenarios.
"""

from __future__ import annotations

ATTEMPT = " (attempt)"
RETRIED = "RETRIED"
CHECK = "CHECK"
REFUSED = "REFUSED"
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
SENT = (*HTTP_METHODS, REFUSED)  # every request that went out: answered, failed or refused at the door
DUPLICATE_CHECK = "idempotency: one payment per key"
REPLAY_UNANSWERED = "idempotency: replay unanswered"  # a failed CHECK: every replay attempt of a key failed
# A CHECK per authorization the service acknowledged without counting it (a request template's counter.not_counted,
# a PaymentUser's `not_counted`: screened out before any provider call): the conservation of counts leaves it out.
NOT_COUNTED = "counter: acknowledged, not counted"


FLOW = "FLOW"  # request type of a whole flow (a checkout of several calls): what the failure gates judge
AUTHORIZES = "authorize:"  # a flow step that authorizes: "authorize:checkoutComplete [requested paystack]"

REQUESTED = "requested "  # in a request name: the generator's draw, not a provider the service named


def request_name(action: str, provider: str) -> str:
    """The name a request goes out under: the provider the order asked for, labelled as such."""
    return f"{action} [{REQUESTED}{provider}]"


def answered_by(name: str, provider: str) -> str:
    """`name` with the provider the service's answer named: "authorize [requested acme]" → "authorize [globex]"."""
    head, _, rest = name.partition("[")
    return f"{head}[{provider}]{rest.partition(']')[2]}" if rest else name


def step_request_name(step: str, authorizes: bool, provider: str) -> str:
    """A flow step's request name: "<step> [requested <provider>]", the step that authorizes prefixed with
    AUTHORIZES (its action is authorize: the latency gates judge it); a step named authorize keeps its name."""
    action = step if not authorizes or step == "authorize" else f"{AUTHORIZES}{step}"
    return request_name(action, provider)
