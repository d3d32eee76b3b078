"""${NAME} references in what a drill or a load test sends (a request template's calls, a hook, an action's
URL): read from the environment once, when the run starts, so a staging URL, an id or a token is not written
into the file. `expand` fills them in; `unset` finds, before anything is sent, the ones the environment lacks,
each with the key path it sits at (for the one line naming file, line and key). An empty value is lacking too
(`SHOP_VARIANT=` would send an empty id), unless the file says what empty means: `${NAME:-}` (empty) or
`${NAME:-value}` (a default), as a POSIX shell reads them."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^{}]*)?\}")  # group 1: the name
SENT = ("path", "url", "headers", "json")  # the keys of a call whose values are sent: where ${NAME} is read
TEMPLATE_CALLS = ("authorize", "capture", "read")  # a request template's single calls (beside its flow's steps)


def _default(ref: re.Match) -> str | None:
    """The default a reference writes (`${NAME:-x}`: "x", `${NAME:-}`: ""), None for a bare `${NAME}`."""
    rest = ref[0][len(ref[1]) + 2:-1]
    return rest[2:] if rest else None


def _filled(ref: re.Match, env: Mapping[str, str]) -> str:
    value = env.get(ref[1])
    if value:
        return value
    default = _default(ref)
    return default if default is not None else ref[0]


def expand(value: Any, env: Mapping[str, str] | None = None) -> Any:
    """A value with every ${NAME} replaced from the environment (strings inside mappings and lists too): a name
    set to a value gives it, else `${NAME:-default}` gives its default; a bare ${NAME} the environment lacks or
    sets empty stays as written (`unset` refuses it before the run)."""
    env = os.environ if env is None else env
    if isinstance(value, str):
        return ENV_REF.sub(lambda m: _filled(m, env), value) if "${" in value else value
    if isinstance(value, dict):
        return {k: expand(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, env) for v in value]
    return value


def refs(value: Any, at: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """(key path, NAME) of every ${NAME} in a value that needs a value from the environment (`${NAME:-...}` says
    what to send without one), the path from `at` down (a list item by its index)."""
    if isinstance(value, str):
        for ref in ENV_REF.finditer(value):
            if _default(ref) is None:
                yield at, ref[1]
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from refs(v, (*at, str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from refs(v, (*at, str(i)))


def sent(call: Any, at: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """The ${NAME}s of one call as written in a file (a mapping: path or url, headers, json)."""
    if isinstance(call, dict):
        for key in SENT:
            yield from refs(call.get(key), (*at, key))


def template_refs(doc: Any, at: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """The ${NAME}s of a request template as written (its flow's steps, authorize, capture, read)."""
    if not isinstance(doc, dict):
        return
    flow = doc.get("flow")
    for i, step in enumerate(flow if isinstance(flow, list) else ()):
        yield from sent(step, (*at, "flow", str(i)))
    for key in TEMPLATE_CALLS:
        yield from sent(doc.get(key), (*at, key))


def unset(found: Iterator[tuple[tuple[str, ...], str]], env: Mapping[str, str] | None = None
          ) -> list[tuple[tuple[str, ...], str]]:
    """The (key path, NAME) of `found` whose NAME the environment does not set or sets empty, each once."""
    env = os.environ if env is None else env
    out: list[tuple[tuple[str, ...], str]] = []
    for item in found:
        if not env.get(item[1]) and item not in out:
            out.append(item)
    return out


def problem(where: str, keys: tuple[str, ...], name: str, env: Mapping[str, str] | None = None) -> str:
    """The one line of an unset or empty reference: `where` is `file:line` (and what leads to it)."""
    env = os.environ if env is None else env
    if name in env:
        return (f"{where}: {'.'.join(keys)}: ${{{name}}} is set but empty in the environment (it is read when the "
                f"run starts; give it a value, or write ${{{name}:-}} where empty is meant)")
    return (f"{where}: {'.'.join(keys)}: ${{{name}}} is not set in the environment (it is read when the run starts; "
            "set it, or write the value)")


def missing(names, env: Mapping[str, str] | None = None) -> list[str]:
    """The names, sorted, that the environment does not set or sets empty."""
    env = os.environ if env is None else env
    return sorted({name for name in names if not env.get(name)})
