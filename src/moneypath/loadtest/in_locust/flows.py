"""A Locust user's payment as a flow: the steps of a request template (moneypath.formats.requests, the same file a
drill's load.requests reads), each capturing values from its answer for the next, each judged by its failure
predicates (a status, a JSON path that must be empty such as GraphQL's `errors`, a missing capture).

What Locust records (moneypath.loadtest.in_locust.request_names): every step as its own request, "<step> [<provider>]", the
step that authorizes as "authorize:<step> [<provider>]" (its time is the service's whole call: the service's
histogram judges the authorization latency, moneypath.loadtest.command.gates); and
the whole flow once, request type FLOW, "<flow name> [<provider>]", timed from its first step to its last, failed
with "<step>: <reason>" (Locust's failures table counts each reason). The failure gate judges flows.
"""

from __future__ import annotations

import ast
import inspect
import time
import uuid
from decimal import Decimal
from pathlib import Path

from moneypath.catalog.currencies import ISO_4217_EXPONENTS
from moneypath.formats.flow_answers import MISSING, Judged, dig, judge, request_args
from moneypath.formats.requests import Requests, Step, TemplateFileError, read_requests, unset_env
from moneypath.loadtest.in_locust.request_names import CHECK, FLOW, NOT_COUNTED, request_name, step_request_name
from moneypath.protocol.correlation_header import HEADER as CORRELATION_HEADER

_TEMPLATES: dict[type, Requests] = {}


def template_of(cls: type) -> Requests | None:
    """The request template a PaymentUser class names (`template`, relative to its locustfile), read once, its
    ${NAME}s read from the environment then (never per request); SystemExit with one line per problem
    (file:line: key: what), an unset ${NAME} among them."""
    path = getattr(cls, "template", None)
    if path is None:
        return None
    if cls not in _TEMPLATES:
        where = Path(inspect.getfile(cls)).parent / path
        try:
            api = read_requests(where)
        except TemplateFileError as exc:
            raise SystemExit(f"moneypath: {cls.__name__}.template: {exc}") from None
        if unset := unset_env(where):
            raise SystemExit(f"moneypath: {cls.__name__}.template: " + "\n".join(unset))
        _TEMPLATES[cls] = api.expanded()
    return _TEMPLATES[cls]


def unset_template_env(locustfile: Path) -> list[str]:
    """Before Locust starts: one line per ${NAME} that a request template the locustfile's classes name
    (`template = "..."`, read from its source: no Locust import here) sends and the environment does not set."""
    try:
        tree = ast.parse(Path(locustfile).read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return []  # Locust will say why
    lines = []
    for node in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for item in node.body:
            if (isinstance(item, ast.Assign) and any(getattr(t, "id", None) == "template" for t in item.targets)
                    and isinstance(item.value, ast.Constant) and isinstance(item.value.value, str)):
                lines += [f"{node.name}.template: {line}"
                          for line in unset_env(Path(locustfile).parent / item.value.value)]
    return lines


def order_values(order) -> dict:
    """The placeholders of one order ({idempotency_key} is per call, {payment_id} comes from the flow)."""
    exponent = ISO_4217_EXPONENTS.get(order.currency, 2)
    return {"amount_minor": order.amount_minor, "amount_major": str(Decimal(order.amount_minor).scaleb(-exponent)),
            "currency": order.currency, "provider": order.provider, "method": order.method,
            "reference": order.reference, "correlation_id": order.correlation_id}


def run_flow(user, api: Requests, order):
    """The template's steps for `order` through the user's Locust client: a Payment (id and state from the step
    that authorizes) or None when a step failed; each step and the flow recorded as the module's doc says."""
    from moneypath.loadtest.in_locust.client import Payment

    values, started, failure = order_values(order), time.perf_counter(), None
    payment_id, answer = None, {}
    for step in api.steps:
        verdict, body = _step(user, step, values, order)
        if verdict.failure is not None:
            failure = verdict.failure
            break
        values = values | verdict.captured
        if step.authorizes:
            payment_id = verdict.payment_id
            values = values | {"payment_id": payment_id}
            answer = {"state": verdict.state, "answer": body, "values": values}
            if uncounted(api.counter.not_counted, body):
                user._fire(CHECK, NOT_COUNTED, time.perf_counter(), None)
    user._fire(FLOW, request_name(api.name, order.provider), started, failure)
    if failure is not None:
        return None
    return Payment(payment_id, order.provider, order.amount_minor, order.correlation_id, answer)


def uncounted(rules: dict[str, list[str]], answer) -> bool:
    """Whether an authorization's answer is one the service acknowledges without counting (the template's
    counter.not_counted: dotted path -> answers)."""
    return any(str(dig(answer, path)) in answers for path, answers in rules.items())


def _step(user, step: Step, values: dict, order) -> tuple[Judged, object]:
    args = request_args(step, values | {"idempotency_key": uuid.uuid4().hex})
    headers = {**user.headers, CORRELATION_HEADER: order.correlation_id, **args["headers"]}
    name = step_request_name(step.name, step.authorizes, order.provider)
    with user.client.request(args["method"], args["url"], name=name, headers=headers, json=args.get("json"),
                             catch_response=True) as r:
        status = r.status_code or 0
        try:
            body = r.json() if r.content else MISSING
        except ValueError:
            body = MISSING
        if not status:
            verdict = Judged(f"{step.name}: no answer ({type(r.error).__name__ if r.error else 'connection'})")
        else:
            verdict = judge(step, status, body)
        if verdict.failure is None:
            r.success()
        else:
            r.failure(verdict.failure)
            user.note_refusal(r, status)
    return verdict, body


def capture(user, api: Requests, payment):
    """The template's capture call for a payment its flow authorized (when the state allows), named
    "capture [<provider>]"; the Payment, or None."""
    state = (payment.answer or {}).get("state")
    if api.capture is None or state not in api.approved:
        return None
    args = request_args(api.capture, payment.answer["values"] | {"idempotency_key": uuid.uuid4().hex})
    _, data = user._send(args["method"], args["url"], args.get("json"), request_name("capture", payment.provider),
                              payment.correlation_id, uuid.uuid4().hex)
    return payment if data is not None else None
