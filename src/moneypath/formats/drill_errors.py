"""The drill file's errors in its own words: one line per problem naming the file, the key (and the line where
it helps), and a did-you-mean for a misspelt key (moneypath.formats.drill reads the file)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from moneypath.catalog.matchers import did_you_mean
from moneypath.catalog.model import nearest_line
from moneypath.catalog.yaml_errors import FILE
from moneypath.formats.requests import line_of

# Fields the loader fills in, never written in a file: no did-you-mean offers them.
LOADER_FIELDS = ("name", "path", "runbook_alert", "runbook_page", "runbook_steps")


def problem(rel: str, err: dict, doc: Any, path: Path, requests_at: tuple[str, str] | None,
            model: type[BaseModel], lines: dict[tuple, int]) -> str:
    """One line per problem: `file:line: key.path: what` (`lines`: the file's key_lines); a problem in
    load.requests (a flow's steps) names the line too, in the requests file when the drill points at one
    (`drill.yaml: load.requests: requests/x.yaml:12: flow.1.capture: what`), else in the drill file
    (`drill.yaml: load.requests: flow.1.capture: what (line 40)`)."""
    key, msg = _loc(err["loc"], doc), _msg(err, model)
    if tuple(err["loc"][:2]) != ("load", "requests"):
        return f"{located(rel, lines, err['loc'])}: {key}: {msg}"
    inner = [str(p) for p in err["loc"][2:]]
    head = re.match(r"([A-Za-z_][\w]*(?:\.\w+)*): ", msg)  # a problem the template names a key of: flow.1: ...
    if head and not inner:
        inner, msg = head[1].split("."), msg[head.end():]
    if requests_at is not None:
        line = line_of(requests_at[1], inner)
        return f"{rel}: load.requests: {requests_at[0]}:{line}: {'.'.join(inner) or FILE}: {msg}"
    line = line_of(path.read_text(encoding="utf-8"), ["load", "requests", *inner])
    return f"{rel}: load.requests: {'.'.join(inner) or FILE}: {msg} (line {line})"


def located(rel: str, lines: dict[tuple, int], loc: tuple) -> str:
    """`file:line`, the line of the key at `loc` (or of its nearest ancestor) in the file's key_lines; the file
    alone for a problem of the whole file (an empty `loc`)."""
    line = nearest_line(lines, loc) if loc else None
    return f"{rel}:{line}" if line else rel


def lined(loc: tuple) -> bool:
    return "if_not_measured" in loc or loc[:1] == ("controls",)


def lined_error(rel: str, lines: dict[tuple, int], err: dict, model: type[BaseModel]) -> str:
    """One line naming the file, the line and the key of a wrong `if_not_measured` or control, and what it may
    be."""
    loc = err["loc"]
    where = f"{located(rel, lines, loc)}: {'.'.join(str(p) for p in loc)}"
    if err["type"] in ("enum", "literal_error"):
        return (f"{where}: {err['input']!r} is not fail or pass (fail: a check that measured nothing fails the "
                "drill; pass: it is skipped, shown as not measured)")
    return f"{where}: {_msg(err, model)}"


def _loc(loc: tuple, doc: Any) -> str:
    """The path to a bad value in the file's own words: an index the reader added (`expect: {below: 1}` is read
    as a list of one expectation) is left out, so the path names a key the file has."""
    parts, node = [], doc
    for part in loc:
        if isinstance(part, int) and isinstance(node, dict):
            continue  # a mapping where a list may be: it is the list's only item
        parts.append(str(part))
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return ".".join(parts) or FILE


def _msg(err: dict, model: type[BaseModel]) -> str:
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        known = _keys_at(model, err["loc"][:-1])
        msg += did_you_mean(str(err["loc"][-1]), known) if known else ""
    return msg.removeprefix("Value error, ")


def _keys_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a drill file may have at `loc` (the path to a mapping), for a did-you-mean on a misspelt one."""
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list: the list's model, found below
        info = model.model_fields.get(str(part)) or next(
            (f for f in model.model_fields.values() if f.alias == part), None)
        if info is None:
            return []
        found = _model_in(info.annotation)
        if found is None:
            return []
        model = found
    return [f.alias or name for name, f in model.model_fields.items() if name not in LOADER_FIELDS]


def _model_in(annotation) -> type[BaseModel] | None:
    """The model a field holds, through list[...], X | None and Annotated[...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for arg in get_args(annotation) if (m := _model_in(arg)) is not None), None)


LOADER_FIELDS = ("name", "path", "runbook_alert", "runbook_page", "runbook_steps")
