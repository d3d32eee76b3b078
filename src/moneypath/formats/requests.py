"""Request templates (a drill's load.requests, inline or in a file the drills of one service share): how load
calls a team's API. Path, headers and JSON body hold {placeholders} the runner fills per payment, and ${NAME}
references read from the environment when the drill runs."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from moneypath._common.strict import StrictModel
from moneypath.formats.env_refs import ENV_REF, expand

PLACEHOLDERS = ("amount_minor", "amount_major", "currency", "provider", "method", "idempotency_key", "reference",
                "correlation_id", "payment_id")
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


class Call(StrictModel):
    """One request of the team's API. Path, headers and JSON body may hold {placeholders}
    (PLACEHOLDERS); a JSON value that is a placeholder alone keeps its type ("{amount_minor}" → 6235)."""

    method: HTTP_METHODS = "POST"
    path: str = Field(pattern=r"^/")
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    id: str | None = None  # where the payment id is in a 2xx answer: a dotted path, e.g. id or data.charge.id
    outcome: str | None = None  # where the payment's state is in a 2xx answer, e.g. status


class Step(Call):
    """One step of a flow (a checkout of several calls): a call whose 2xx answer may hand values on to the next
    steps (`capture`: placeholder name → dotted path; a path the answer lacks fails the step), and whose
    failure predicates are judged on every answer: a status outside `expect_status` (default: any 2xx), a path
    in `must_be_empty` that holds something (GraphQL's `errors`, a mutation's `data.x.errors`)."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    capture: dict[str, str] = Field(default_factory=dict)
    expect_status: list[int] = Field(default_factory=list)  # empty: any 2xx
    must_be_empty: list[str] = Field(default_factory=list)
    authorizes: bool = False  # the step whose answer is the authorization: the latency gate and payment id


class Counter(StrictModel):
    """How the authorizing step's answers show on the service's authorizations counter, for the conservation of
    counts (moneypath.check.conservation): each attempt of the step that `authorizes` is one call the counter may
    count, and each acknowledged one is counted, under the outcome its state maps to, unless it is `not_counted`."""

    # the answer's state (the authorizing step's `outcome`) → the counter's outcome label value; a state not given
    # here counts under itself when the counter's outcome label declares it, else under an outcome not told apart
    outcomes: dict[str, str] = Field(default_factory=dict)
    # dotted path → answers the service acknowledges without counting an authorization (screened out before any
    # provider call: a fraud decline, a hold)
    not_counted: dict[str, list[str]] = Field(default_factory=dict)


class Requests(StrictModel):
    """How the drill's load calls the team's API: one payment is a flow of steps (`flow`), or one call
    (`authorize`, a flow of one step); then the capture, and how to read a payment back (the "writes lost"
    check: an acknowledged payment the API no longer knows)."""

    auth: Literal["minted", "bearer", "none"] = "minted"  # minted: from MONEYPATH_TOKEN_SECRET (or the local stack)
    token_env: str = Field(default="MONEYPATH_DRILL_TOKEN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")  # auth: bearer
    name: str = Field(default="payment", pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")  # what one flow is: rates per name
    authorize: Call | None = None
    flow: list[Step] | None = Field(default=None, min_length=1)
    concurrency: int | None = Field(default=None, ge=1, le=1000)  # at most this many flows in flight
    approved: list[str] = Field(min_length=1)  # outcomes after which the payment may be captured
    flagged: dict[str, list[str]] = Field(default_factory=dict)  # dotted path → answers that count as affected
    capture: Call | None = None
    read: Call | None = None
    captured: list[str] = Field(default_factory=list)  # read outcomes that show an acknowledged capture
    retry_status: list[int] = Field(default_factory=lambda: [409, 500, 502, 503, 504])
    counter: Counter = Field(default_factory=Counter)  # how the authorizing step shows on the counter
    _steps: list[Step] = PrivateAttr(default_factory=list)

    def expanded(self, env=None) -> Requests:
        """This template with every ${NAME} in its calls' path, headers and JSON body read from the environment
        (moneypath.formats.env_refs): done once when a run starts, so no request pays for it."""
        def call(c):
            if c is None:
                return None
            return c.model_copy(update={"path": expand(c.path, env), "headers": expand(c.headers, env),
                                        "json_body": expand(c.json_body, env)})

        steps = [call(s) for s in self._steps]
        out = self.model_copy(update={"authorize": call(self.authorize), "capture": call(self.capture),
                                      "read": call(self.read), "flow": steps if self.flow is not None else None})
        out._steps = steps
        return out

    @property
    def steps(self) -> list[Step]:
        """The flow; a template with `authorize` is a flow of one step named authorize."""
        return self._steps

    @property
    def authorizing(self) -> Step:
        return next(s for s in self.steps if s.authorizes)

    @property
    def captures(self) -> set[str]:
        return {name for s in self.steps for name in s.capture}

    @model_validator(mode="before")
    @classmethod
    def _one_step_authorizes(cls, data):
        flow = data.get("flow") if isinstance(data, dict) else None
        if isinstance(flow, list) and len(flow) == 1 and isinstance(flow[0], dict) and "authorizes" not in flow[0]:
            data = {**data, "flow": [{**flow[0], "authorizes": True}]}
        return data

    @model_validator(mode="after")
    def _complete(self):
        if (self.authorize is None) == (self.flow is None):
            raise ValueError("give either authorize (one call) or flow (a list of steps), not both")
        if self.flow is not None:
            self._steps = list(self.flow)
        else:
            self._steps = [Step(name="authorize", authorizes=True, **self.authorize.model_dump(by_alias=True))]
        _check_flow(self._steps, "flow" if self.flow is not None else None)
        step = self.authorizing
        where = "authorize" if self.flow is None else f"flow.{self.flow.index(step)}"
        if not step.id:
            raise ValueError(f"{where}.id: required: where the payment id is in the answer (e.g. id)")
        if not step.outcome:
            raise ValueError(f"{where}.outcome: required: where the payment's state is in the answer (e.g. status)")
        if self.read is not None and self.capture is not None and not self.captured:
            raise ValueError("captured: required with read and capture: the read outcomes that show a capture")
        known = set(PLACEHOLDERS) | self.captures
        for key in ("capture", "read"):
            call = getattr(self, key)
            if call is None:
                continue
            used = placeholders([call.path, call.headers, call.json_body])
            unknown = sorted(used - known)
            if unknown:
                raise ValueError(f"{key}: unknown placeholder {{{unknown[0]}}} ({_known(known)})")
            if "payment_id" not in used:
                raise ValueError(f"{key}.path: needs {{payment_id}}, e.g. /charges/{{payment_id}}")
        return self


def _known(names) -> str:
    ordered = [n for n in PLACEHOLDERS if n in names] + sorted(set(names) - set(PLACEHOLDERS))
    return "known: " + ", ".join("{" + n + "}" for n in ordered)


def _check_flow(flow: list[Step], key: str | None) -> None:
    """Step names unique, one step authorizes, each step uses only what is known by then. `key`: the flow's
    key in the file (None: the one `authorize` call)."""
    names = [s.name for s in flow]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"flow: two steps named {twice[0]}: each step needs its own name")
    authorizing = [i for i, s in enumerate(flow) if s.authorizes]
    if len(authorizing) != 1:
        raise ValueError("flow: exactly one step has authorizes: true (the call that authorizes the payment), "
                         f"found {len(authorizing)}")
    known = set(PLACEHOLDERS) - {"payment_id"}
    for i, step in enumerate(flow):
        used = placeholders([step.path, step.headers, step.json_body])
        unknown = sorted(used - known)
        if unknown and key is None:
            if unknown == ["payment_id"]:
                raise ValueError("authorize: {payment_id} is known only after the authorization (capture, read)")
            raise ValueError(f"authorize: unknown placeholder {{{unknown[0]}}} ({_known(known)})")
        if unknown:
            raise ValueError(f"{key}.{i}: unknown placeholder {{{unknown[0]}}} ({_known(known)}; a capture is "
                             "known from the step after the one that captures it, {payment_id} after the "
                             "authorizing step)")
        clash = sorted(set(step.capture) & set(PLACEHOLDERS))
        if clash:
            raise ValueError(f"{key}.{i}.capture: {clash[0]} is a built-in placeholder: capture it under another name")
        known |= set(step.capture)
        if step.authorizes:
            known.add("payment_id")


class TemplateFileError(ValueError):
    """A request template file that cannot be used; one line per problem: `file:line: key: what`."""


def read_requests(path) -> Requests:
    """A request template file on its own (a locustfile's `template`): the model, or TemplateFileError."""
    from pathlib import Path

    import yaml
    from pydantic import ValidationError

    from moneypath._common import yamlio

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        doc = yamlio.load(text)
    except OSError as exc:
        raise TemplateFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise TemplateFileError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(doc, dict):
        raise TemplateFileError(f"{path}: a request template is a mapping (auth, flow or authorize, approved, ...)")
    try:
        return Requests.model_validate(doc)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            keys, msg = [str(p) for p in err["loc"]], err["msg"].removeprefix("Value error, ")
            head = re.match(r"([A-Za-z_]\w*(?:\.\w+)*): ", msg)
            if head and not keys:
                keys, msg = head[1].split("."), msg[head.end():]
            lines.append(f"{path}:{line_of(text, keys)}: {'.'.join(keys) or '(file)'}: {msg}")
        raise TemplateFileError("\n".join(lines)) from None


def unset_env(path, env=None) -> list[str]:
    """One line per ${NAME} a request template file sends (path, headers, JSON body of its calls) that the
    environment does not set: `file:line: key: ...` (a file that cannot be read: none; read_requests says why)."""
    from pathlib import Path

    import yaml

    from moneypath._common import yamlio
    from moneypath.formats.env_refs import problem, template_refs, unset

    try:
        text = Path(path).read_text(encoding="utf-8")
        doc = yamlio.load(text)
    except (OSError, yaml.YAMLError):
        return []
    return [problem(f"{path}:{line_of(text, list(keys))}", keys, name) for keys, name in unset(template_refs(doc), env)]


def line_of(text: str, keys: list[str]) -> int:
    """The 1-based line of the value at `keys` in a YAML text (of the deepest key found, when one is missing)."""
    import yaml

    from moneypath._common import yamlio

    node = yamlio.compose(text)
    line = 1 if node is None else node.start_mark.line + 1
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == key), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and key.isdigit() and int(key) < len(node.value):
            node = node.value[int(key)]
            line = node.start_mark.line + 1
        else:
            break
    return line
