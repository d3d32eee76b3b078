"""The field paths of a file format's pydantic model, and those a YAML example writes: what
tests/unit/test_docs_models.py compares, so that every key a format has appears in an example a test runs.

A path names keys from the top (`load.peak.headroom.probe`), `[]` an item of a list (`steady_state[].expect[].min`),
`*` any key of a mapping (`tabletop.roles.*.due`); a key by the name a file writes it (an alias: `json`, `for`).
"""

from __future__ import annotations

import types
import typing
from typing import Any, get_args, get_origin

from pydantic import BaseModel


def _arms(annotation) -> list:
    """The types a field may hold, through X | None, Union[...] and Annotated[...]."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _arms(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _arms(arg)]
    return [annotation]


def _is_model(t) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _fields(model: type[BaseModel], skip: set[tuple[str, str]]):
    for name, field in model.model_fields.items():
        if (model.__name__, name) not in skip:
            yield field.alias or name, field.annotation


def field_paths(model: type[BaseModel], skip=frozenset(), leaves: tuple = (), shared: tuple = (),
                prefix: str = "", seen: tuple = ()) -> set[str]:
    """Every key path of `model`: its fields and, through lists and mappings, those of the models they hold.
    `skip`: (model name, field) pairs a file never writes (what a loader fills in); `leaves`: models whose own
    fields are counted elsewhere (a drill's request template is a format of its own); `shared`: models whose
    fields are counted once under their own name (`Expect:min`), wherever they sit."""
    out: set[str] = set()
    for key, annotation in _fields(model, skip):
        path = f"{prefix}{key}"
        out.add(path)
        for suffix, sub in _nested(annotation):
            if sub in leaves or sub in seen:
                continue
            below = f"{sub.__name__}:" if sub in shared else f"{path}{suffix}."
            out |= field_paths(sub, skip, leaves, shared, below, (*seen, model))
    return out


def shared_models(model: type[BaseModel], skip=frozenset(), leaves: tuple = ()) -> tuple:
    """The models `model` holds at more than one place (a check in steady_state and in recovery.checks)."""
    places: dict[type, int] = {}

    def walk(m, seen):
        for _, annotation in _fields(m, skip):
            for _, sub in _nested(annotation):
                if sub not in leaves and sub not in seen:
                    places[sub] = places.get(sub, 0) + 1
                    walk(sub, (*seen, m))
    walk(model, ())
    return tuple(m for m, n in places.items() if n > 1)


def _nested(annotation, suffix: str = ""):
    """(path suffix, model) of each model a field holds: itself, a list's items ([]), a mapping's values (.*)."""
    for arm in _arms(annotation):
        origin = get_origin(arm)
        if _is_model(arm):
            yield suffix, arm
        elif origin in (list, tuple, set, frozenset):
            for arg in get_args(arm):
                yield from _nested(arg, f"{suffix}[]")
        elif origin is dict:
            yield from _nested(get_args(arm)[1], f"{suffix}.*")


def paths_in(doc: Any, model: type[BaseModel], skip=frozenset(), leaves: tuple = (), shared: tuple = (),
             prefix: str = "") -> set[str]:
    """The key paths of `model` that a document (a file's YAML) writes, in field_paths' notation."""
    out: set[str] = set()
    if not isinstance(doc, dict):
        return out
    keys = dict(_fields(model, skip))
    for key, value in doc.items():
        if key not in keys:
            continue
        path = f"{prefix}{key}"
        out.add(path)
        out |= _walk(value, keys[key], path, skip, leaves, shared)
    return out


def _walk(value: Any, annotation, path: str, skip, leaves, shared) -> set[str]:
    out: set[str] = set()
    for arm in _arms(annotation):
        origin = get_origin(arm)
        if _is_model(arm) and isinstance(value, dict) and arm not in leaves:
            out |= paths_in(value, arm, skip, leaves, shared, f"{arm.__name__}:" if arm in shared else f"{path}.")
        elif origin in (list, tuple, set, frozenset):
            items = value if isinstance(value, list) else [value]  # a mapping where a list may be: its one item
            for item in items:
                for arg in get_args(arm):
                    out |= _walk(item, arg, f"{path}[]", skip, leaves, shared)
        elif origin is dict and isinstance(value, dict):
            for item in value.values():
                out |= _walk(item, get_args(arm)[1], f"{path}.*", skip, leaves, shared)
    return out
