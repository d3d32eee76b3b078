"""Canary drill files (`kind: canary`): releases shipped through a canary beside a baseline, each judged.

A drill file of this kind says at what rate payments flow (both tracks together), what share of them the canary
takes (`weight`, a mesh's weighted split), how often the judge looks, what the judge's policy is for the drill
(overrides of the catalog's `canary:` section, handed to the judge as they are), the payments' mix and how to
send them (`load`: a drill's load without its rate and baseline), and the releases: each with the faults it
ships in the canary only, the verdict it must get, and for a money fault that it fails at its first occurrence.

`read_canary_drill(path, root)` returns a `CanaryDrill` or raises DrillError (moneypath.formats.drill) whose
problems are one line each, ``file:line: key.path: what is wrong``; `check_canary_drill` checks the faults against
the catalog's fault APIs. moneypath.canary.drill_run runs it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from moneypath._common.strict import StrictModel
from moneypath.catalog import Catalog
from moneypath.catalog.matchers import did_you_mean
from moneypath.catalog.yaml_errors import FILE
from moneypath.formats.drill import (
    AmountsSpec,
    DrillError,
    Hook,
    Seconds,
    _read_yaml,
    _requests_file,
    file_kind,
    rel_path,
)
from moneypath.formats.drill_errors import located
from moneypath.formats.fault_specs import fault_specs
from moneypath.formats.requests import Requests

KIND = "canary"
Verdict = Literal["pass", "fail"]
NAME = r"^[a-z0-9][a-z0-9-]*$"


class ReleaseFault(StrictModel):
    """A fault the release ships, switched on in the canary only: through the canary's own fault API (its service,
    its provider simulator: the reference service's tracks each have their own) or the team's hook, whose URL may
    name the canary as ${CANARY_URL} (and the baseline as ${BASELINE_URL}); other ${NAME}s are read from the
    environment."""

    where: Literal["service", "providersim", "hook"]
    name: str = Field(min_length=1)
    target: str | None = None  # the provider (simulator faults) or queue it hits
    params: dict[str, Any] = Field(default_factory=dict)
    set: Hook | None = None
    clear: Hook | None = None

    @model_validator(mode="after")
    def _hook_or_api(self):
        if self.where == "hook":
            if self.set is None or self.clear is None:
                raise ValueError("a hook fault needs set and clear (the calls that switch it on and off)")
            if self.params or self.target:
                raise ValueError("params/target: a hook fault carries its parameters in set (url, json)")
        elif self.set is not None or self.clear is not None:
            raise ValueError(f"set/clear: only for where: hook ({self.where} faults go through its fault API)")
        return self


class Release(StrictModel):
    name: str = Field(pattern=NAME)
    faults: list[ReleaseFault] = Field(default_factory=list)  # none: a good release
    expect: Verdict
    # a money fault (a duplicate charge): the judge must fail it at its first occurrence, within one scrape
    # interval plus one judge interval of the first duplicate the canary's series show
    first_occurrence: bool = False
    budget: Seconds = Field(gt=0)  # the longest the release runs without a verdict (inconclusive after it)

    @model_validator(mode="after")
    def _shape(self):
        if self.first_occurrence and self.expect != "fail":
            raise ValueError("first_occurrence: only a release expected to fail fails at its first occurrence")
        return self


class CanaryLoad(StrictModel):
    """The payments' mix and how to send them: a drill's load (moneypath.formats.drill.LoadSpec) without its rate."""

    capture: float = Field(default=0.8, ge=0, le=1)
    providers: dict[str, float] = Field(min_length=1)
    currencies: dict[str, float] = Field(min_length=1)
    methods: dict[str, float] = Field(default_factory=lambda: {"card": 1.0})
    amounts: AmountsSpec
    concurrency: int = Field(default=64, ge=1, le=1000)
    requests: Requests


class CanaryDrill(StrictModel):
    kind: Literal["canary"]
    title: str = Field(min_length=1)
    rate: float = Field(gt=0, le=2000, description="payments per second, both tracks together")
    weight: float = Field(default=0.1, gt=0, lt=1)  # the canary's share of the payments
    warm_up: Seconds = 10.0  # load on both tracks before the first release is judged
    judge_every: Seconds = Field(default=2.0, gt=0)  # the judge interval
    policy: dict[str, Any] = Field(default_factory=dict)  # the judge's policy for this drill (catalog canary:)
    load: CanaryLoad
    releases: list[Release] = Field(min_length=1)

    name: str = ""  # filled in by the loader
    path: str = ""

    @field_validator("releases")
    @classmethod
    def _unique(cls, releases: list[Release]) -> list[Release]:
        names = [r.name for r in releases]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"release names must be unique: {', '.join(twice)} more than once")
        return releases

    @property
    def weights(self) -> tuple[float, float]:
        """(baseline, canary) shares of the payments."""
        return 1.0 - self.weight, self.weight


def is_canary_drill(path: Path) -> bool:
    """Whether a drill file declares `kind: canary` (read without validating; False when it cannot be read)."""
    return file_kind(Path(path)) == KIND


def read_canary_drill(path: Path, root: Path = Path(".")) -> CanaryDrill:
    """Parse and validate a canary drill file, its name and path filled in; DrillError (file:line: key: what)."""
    rel = rel_path(Path(path), Path(root))
    doc = _read_yaml(Path(path), f"{rel}: {FILE}")
    if not isinstance(doc, dict):
        raise DrillError([f"{rel}: {FILE}: a canary drill file is a YAML mapping (kind, title, rate, load, releases)"])
    for key in ("name", "path"):
        if key in doc:
            raise DrillError([f"{rel}: {key}: set by the loader, not in the file"])
    load = doc.get("load")
    if isinstance(load, dict) and isinstance(load.get("requests"), str):
        load["requests"] = _requests_file(Path(path).parent / load["requests"], rel, Path(root))
    try:
        drill = CanaryDrill.model_validate(doc)
    except ValidationError as e:
        text = Path(path).read_text(encoding="utf-8")
        raise DrillError([_problem(rel, text, err) for err in e.errors()]) from None
    drill.name, drill.path = Path(path).stem, rel
    return drill


def check_canary_drill(drill: CanaryDrill, catalog: Catalog, text: str | None = None) -> list[str]:
    """What the drill names that the catalog and the fault APIs do not have: one line each, file:line: key: what."""
    from moneypath.catalog.load import key_lines

    lines = key_lines(text) if text is not None else {}
    problems = []

    def add(loc: tuple, msg: str) -> None:
        problems.append(f"{located(drill.path, lines, loc)}: {'.'.join(map(str, loc))}: {msg}")

    for key in ("providers", "currencies"):
        known = list(getattr(catalog, key))
        for name in getattr(drill.load, key):
            if name not in known:
                add(("load", key, name), f"not in the catalog{did_you_mean(name, known)} (it has {', '.join(known)})")
    for loc, msg in _policy_problems(catalog, drill.policy):
        add(("policy", *loc), msg)
    for i, release in enumerate(drill.releases):
        for j, fault in enumerate(release.faults):
            if fault.where == "hook":
                continue
            specs = fault_specs(fault.where, catalog)
            at = ("releases", i, "faults", j)
            spec = specs.get(fault.name)
            if spec is None:
                add((*at, "name"), f"{fault.where} has no fault {fault.name!r}{did_you_mean(fault.name, list(specs))}"
                                   f" (it has {', '.join(specs)})")
                continue
            if spec.target and fault.target not in spec.targets:
                add((*at, "target"), f"{fault.name} hits one of {', '.join(spec.targets)}; not {fault.target!r}")
            missing = [p for p in spec.params if p not in fault.params]
            unknown = [p for p in fault.params if p not in (*spec.params, *spec.optional)]
            if missing or unknown:
                add((*at, "params"), "; ".join(filter(None, (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"{fault.name} takes no {', '.join(unknown)}" if unknown else ""))))
    return problems


def _policy_problems(catalog: Catalog, overrides: dict) -> list[tuple[tuple, str]]:
    """The drill's policy over the catalog's `canary:` section, validated as the judge will read it and checked
    against the catalog as `catalog check` checks its own (a metric it does not know or lacks the signals of, a
    threshold or tolerance its buckets do not resolve): (key path, what is wrong) each."""
    try:
        from moneypath.catalog.canary_policy import CanaryPolicy, canary_problems
    except ImportError:  # a tree without the canary judge: nothing to check the policy against
        return []
    current = getattr(catalog, "canary", None)
    merged = {**(current.model_dump(exclude_unset=True) if current is not None else {}), **overrides}
    try:
        policy = CanaryPolicy.model_validate(merged)
    except ValidationError as e:
        return [(tuple(p for p in err["loc"] if isinstance(p, int) or not re.match(r"^[\w-]+\[", str(p))),
                 err["msg"].removeprefix("Value error, ")) for err in e.errors()]
    return [(loc[1:] if loc[:1] == ("canary",) else loc, msg)
            for loc, msg in canary_problems(catalog.model_copy(update={"canary": policy}))]


def load_canary_drill(path: Path, catalog: Catalog, root: Path = Path(".")) -> CanaryDrill:
    """Read, validate and check a canary drill file against the catalog; DrillError otherwise."""
    drill = read_canary_drill(path, root)
    problems = check_canary_drill(drill, catalog, Path(path).read_text(encoding="utf-8"))
    if problems:
        raise DrillError(problems)
    return drill


def _problem(rel: str, text: str, err: dict) -> str:
    """`file:line: key.path: what`, the line of the key (or of its nearest ancestor in the file)."""
    from moneypath.catalog.load import key_lines
    from moneypath.catalog.model import nearest_line

    # a branch name pydantic adds for a union or a validator (function-after[...]) is no key of the file
    loc = tuple(p for p in err["loc"] if isinstance(p, int) or not re.match(r"^[\w-]+\[", str(p)))
    try:
        line = nearest_line(key_lines(text), loc)
    except Exception:  # noqa: BLE001 - the document parsed once already; a line is a courtesy
        line = None
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg += did_you_mean(str(loc[-1]), _known_keys(loc[:-1]))
    key = ".".join(str(p) for p in loc) or FILE
    return f"{rel}{f':{line}' if line else ''}: {key}: {msg}"


def _known_keys(loc: tuple) -> list[str]:
    """The keys a canary drill file may have at `loc`, for a did-you-mean."""
    models = {(): CanaryDrill, ("load",): CanaryLoad}
    plain = tuple(p for p in loc if not isinstance(p, int))
    model = models.get(plain) or {("releases",): Release, ("releases", "faults"): ReleaseFault}.get(plain)
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items() if n not in ("name", "path") or model is not CanaryDrill]
