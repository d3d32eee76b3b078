"""Reading a flow step's answer (moneypath.formats.requests.Step), the same for a drill's load and a Locust
user: fill a call's placeholders, find a dotted path in a JSON answer, and judge one answer against the step's
failure predicates. A failure's reason names the step and what was wrong, without ids or amounts, so that
equal failures count together (Locust groups its failures by their text)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from moneypath.formats.requests import Call, Step

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
MISSING = object()


def render(value: Any, values: dict[str, Any]) -> Any:
    """A template value with its placeholders filled: a string that is one placeholder alone keeps the value's
    type (so "{amount_minor}" in a JSON body stays a number); inside a longer string it is text."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole and whole[1] in values:
            return values[whole[1]]
        return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], value)
    if isinstance(value, dict):
        return {k: render(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, values) for v in value]
    return value


def dig(doc: Any, path: str) -> Any:
    """The value at a dotted path of a JSON answer (data.charge.id; list items by index), or MISSING."""
    for part in path.split("."):
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return MISSING
    return doc


def found(value: Any) -> bool:
    return value is not MISSING


def request_args(call: Call, values: dict[str, Any]) -> dict[str, Any]:
    """The method, URL path, headers and JSON body of a template call, its placeholders filled."""
    args: dict[str, Any] = {"method": call.method, "url": render(call.path, values),
                            "headers": {k: str(render(v, values)) for k, v in call.headers.items()}}
    if call.json_body is not None:
        args["json"] = render(call.json_body, values)
    return args


@dataclass
class Judged:
    """One answer to a step: what it captured (its payment id and state, for the authorizing step), or why
    the step failed."""

    failure: str | None = None  # "<step>: <reason>"
    captured: dict[str, Any] = field(default_factory=dict)
    payment_id: str | None = None
    state: str | None = None


def status_ok(step: Step, status: int) -> bool:
    return status in step.expect_status if step.expect_status else 200 <= status < 300


def judge(step: Step, status: int, body: Any) -> Judged:
    """The step's failure predicates on one answer (its status and its JSON, MISSING when it had none)."""
    if not status_ok(step, status):
        return Judged(f"{step.name}: HTTP {status}")
    if not found(body):
        return Judged(f"{step.name}: {status} answer is not JSON")
    for path in step.must_be_empty:
        value = dig(body, path)
        if found(value) and value not in (None, [], {}, ""):
            return Judged(f"{step.name}: {path} is not empty{_first_error(value)}")
    out = Judged()
    for name, path in step.capture.items():
        value = dig(body, path)
        if not found(value) or value is None:
            return Judged(f"{step.name}: no {path} to capture as {name}")
        out.captured[name] = value
    if step.authorizes:
        for path in (step.id, step.outcome):
            value = dig(body, path) if path else MISSING
            if path and (not found(value) or value is None):
                return Judged(f"{step.name}: the answer has no {path}")
        out.payment_id, out.state = str(dig(body, step.id)), str(dig(body, step.outcome))
    return out


def _first_error(value: Any) -> str:
    """A GraphQL error's code (or its message's first words) for the reason: ' (PAYMENT_ERROR)'."""
    first = value[0] if isinstance(value, list) and value else value
    if isinstance(first, dict):
        text = first.get("code") or (first.get("extensions") or {}).get("code") or first.get("message")
        if isinstance(text, str) and text:
            return f" ({' '.join(text.split()[:6])})"
    return ""
