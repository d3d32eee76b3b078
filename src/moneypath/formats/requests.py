"""Request templates (a drill's load.requests, inline or in a file the drills of one service share): how load
calls a team's API. Path, headers and JSON body hold {placeholders} the runner fills per payment, and ${NAME}
references read from the environment when the drill runs."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from moneypath._common.strict import StrictModel

PLACEHOLDERS = ("amount_minor", "amount_major", "currency", "provider", "method", "idempotency_key", "reference",
                "correlation_id", "payment_id")
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # ${NAME}: read from the environment when the drill runs
HTTP_METHODS = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


def placeholders(value: Any) -> set[str]:
    """The {name} placeholders in a template value (strings inside mappings and lists too)."""
    if isinstance(value, str):
        return set(re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", ENV_REF.sub("", value)))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values()), set())
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value), set())
    return set()


def env_refs(value: Any) -> set[str]:
    """The ${NAME} environment references in a value."""
    if isinstance(value, str):
        return set(ENV_REF.findall(value))
    if isinstance(value, dict):
        return set().union(*(env_refs(v) for v in value.values()), set())
    if isinstance(value, list):
        return set().union(*(env_refs(v) for v in value), set())
    return set()


class Call(StrictModel):
    """One request of the team's API. Path, headers and JSON body may hold {placeholders}
    (PLACEHOLDERS); a JSON value that is a placeholder alone keeps its type ("{amount_minor}" → 6235)."""

    method: HTTP_METHODS = "POST"
    path: str = Field(pattern=r"^/")
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    id: str | None = None  # where the payment id is in a 2xx answer: a dotted path, e.g. id or data.charge.id
    outcome: str | None = None  # where the payment's state is in a 2xx answer, e.g. status


class Requests(StrictModel):
    """How the drill's load calls the team's API: the authorization, the capture, and how to read a payment back
    (the "writes lost" check: an acknowledged payment the API no longer knows)."""

    auth: Literal["minted", "bearer", "none"] = "minted"  # minted: from MONEYPATH_TOKEN_SECRET (or the local stack)
    token_env: str = Field(default="MONEYPATH_DRILL_TOKEN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")  # auth: bearer
    authorize: Call
    approved: list[str] = Field(min_length=1)  # outcomes after which the payment may be captured
    flagged: dict[str, list[str]] = Field(default_factory=dict)  # dotted path → answers that count as affected
    capture: Call | None = None
    read: Call | None = None
    captured: list[str] = Field(default_factory=list)  # read outcomes that show an acknowledged capture
    retry_status: list[int] = Field(default_factory=lambda: [409, 500, 502, 503, 504])

    @model_validator(mode="after")
    def _complete(self):
        if not self.authorize.id:
            raise ValueError("authorize.id: required: where the payment id is in the answer (e.g. id)")
        if not self.authorize.outcome:
            raise ValueError("authorize.outcome: required: where the payment's state is in the answer (e.g. status)")
        if self.read is not None and self.capture is not None and not self.captured:
            raise ValueError("captured: required with read and capture: the read outcomes that show a capture")
        for key in ("authorize", "capture", "read"):
            call = getattr(self, key)
            if call is None:
                continue
            used = placeholders([call.path, call.headers, call.json_body])
            unknown = sorted(used - set(PLACEHOLDERS))
            if unknown:
                raise ValueError(f"{key}: unknown placeholder {{{unknown[0]}}} (known: "
                                 f"{', '.join('{' + n + '}' for n in PLACEHOLDERS)})")
            if key == "authorize" and "payment_id" in used:
                raise ValueError("authorize: {payment_id} is known only after the authorization (capture, read)")
            if key != "authorize" and "payment_id" not in placeholders(call.path):
                raise ValueError(f"{key}.path: needs {{payment_id}}, e.g. /charges/{{payment_id}}")
        return self
