"""Read a catalog file into a `Catalog`: YAML with line numbers, so every problem is one line
``file:line: key.path: what is wrong``; raises CatalogError, never anything else. `find_catalog` finds the
nearest one above a directory."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from moneypath._common import yamlio
from moneypath.catalog.model import DEFAULT_PATH, Catalog, CatalogError, nearest_line
from moneypath.catalog.validate import resolve
from moneypath.catalog.yaml_errors import error_line, error_text


def load_catalog(path: str | Path = DEFAULT_PATH) -> Catalog:
    """Read, validate and resolve a catalog file. Raises CatalogError, never anything else."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError([f"{where}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError([f"{where}: cannot read: {exc}"]) from None
    return parse_catalog(text, where)


def find_catalog(start: str | Path) -> Path | None:
    """The nearest moneypath.yaml in `start` or a directory above it, looking no higher than the repository
    root (the first directory holding .git) or the filesystem root; None when there is none."""
    here = Path(start).resolve()
    for directory in (here, *here.parents):
        if (directory / DEFAULT_PATH).is_file():
            return directory / DEFAULT_PATH
        if (directory / ".git").exists():
            return None
    return None


def parse_catalog(text: str, where: str = DEFAULT_PATH) -> Catalog:
    try:
        node = yamlio.compose(text)
        data = yamlio.load(text)
    except yaml.YAMLError as exc:
        line = error_line(exc)
        raise CatalogError([f"{where}{f':{line}' if line else ''}: YAML syntax error: {error_text(exc)}"]) from None
    lines: dict[tuple, int] = {}
    duplicates: list[tuple[tuple, int]] = []
    if node is not None:
        _index_lines(node, (), lines, duplicates)

    def fmt(loc: tuple, msg: str) -> str:
        line = nearest_line(lines, loc)
        dotted = ".".join(str(p) for p in loc) or "(top)"
        return f"{where}{f':{line}' if line else ''}: {dotted}: {msg}"

    problems = [fmt(loc, "duplicate key (the later value would silently win)") for loc, _ in duplicates]
    if not isinstance(data, dict):
        raise CatalogError(problems + [fmt((), "the catalog must be a mapping of sections")])
    try:
        catalog = Catalog.model_validate({**data, "path": where})
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if p != "for_")
            problems.append(fmt(loc, err["msg"]))
        raise CatalogError(problems) from None
    problems += [fmt(loc, msg) for loc, msg in resolve(catalog)]
    if problems:
        raise CatalogError(problems)
    catalog._lines = lines
    return catalog


def key_lines(text: str) -> dict[tuple, int]:
    """Key path → line (1-based) of every key and list item of a YAML document (for errors naming the line)."""
    lines: dict[tuple, int] = {}
    node = yamlio.compose(text)
    if node is not None:
        _index_lines(node, (), lines, [])
    return lines


def _index_lines(node: yaml.Node, path: tuple, lines: dict, duplicates: list, active: frozenset = frozenset()) -> None:
    if id(node) in active:  # an alias that contains itself (`x: &r [*r]`): already being indexed
        return
    active = active | {id(node)}
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            child = path + (key,)
            if key in seen:
                duplicates.append((child, key_node.start_mark.line + 1))
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _index_lines(value_node, child, lines, duplicates, active)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), lines, duplicates, active)
