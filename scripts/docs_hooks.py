"""MkDocs hook (mkdocs.yml: hooks): the parts of the docs that are generated from the code, so they cannot
drift from it. A page asks for one with an HTML comment on a line of its own:

- `<!-- generated: catalog-reference -->`: every key of moneypath.yaml, from the catalog's pydantic model
  (types, defaults, constraints; descriptions from the model's docstrings and field comments);
- `<!-- generated: modules -->`: every package and module under src/moneypath, with its docstring's summary;
- `<!-- generated: layers -->`: the layers contract of import-linter in pyproject.toml;
- `<!-- generated: typed-methods -->`: the typed methods of `MoneyPath` (record_/time_/set_/count_/add_), with
  their parameters;
- `<!-- generated: help COMMAND [ACTION] -->`: `moneypath COMMAND [ACTION] --help`, as the parser prints it.

It reads this tree's src/ (not whatever moneypath the venv has installed). tests/unit/test_docs.py imports
the renderers.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import os
import re
import sys
import tokenize
import tomllib
import types
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from pydantic import BaseModel  # noqa: E402  (after src/ is on the path, as moneypath is)

# MkDocs restores sys.path once the hook is loaded, and the venv's own moneypath (an editable install of another
# tree) would then answer the imports below: import this tree's package now, so its submodules come from here.
import moneypath  # noqa: E402, F401

MARKER = re.compile(r"^<!-- generated: ([\w-]+)((?: [\w-]+)*) -->$", re.M)
# Fields the loader fills in (the signal's key and exported name, the file it was read from): never written in YAML.
INTERNAL = {("Signal", "key"), ("Signal", "name"), ("Catalog", "path")}
HELP_COLUMNS = "78"  # what the theme's content column shows without scrolling


def on_page_markdown(markdown: str, page, config, files) -> str:
    def expand(match: re.Match) -> str:
        kind, args = match.group(1), match.group(2).split()
        if kind == "catalog-reference":
            return catalog_reference()
        if kind == "modules":
            return module_list()
        if kind == "layers":
            return layers()
        if kind == "typed-methods":
            return typed_methods()
        if kind == "help":
            return "```text\n" + command_help(*args) + "```"
        raise ValueError(f"{page.file.src_path}: unknown generated part {match.group(0)}")

    return MARKER.sub(expand, markdown)


# ---- the catalog reference ---------------------------------------------------------------------------------


def catalog_reference() -> str:
    """One section per model reachable from the top level, in the order a reader meets them."""
    from moneypath.catalog.model import Catalog

    sections, seen, queue = [], set(), [Catalog]
    while queue:
        model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        rows, nested = _fields(model)
        queue.extend(nested)
        doc = inspect.cleandoc(model.__doc__) if "__doc__" in vars(model) and model.__doc__ else ""
        if model is Catalog:
            doc = "The top level of the catalog file."
        sections.append("\n".join([f"## {model.__name__}", "", doc, "", "| key | type | default | description |",
                                   "|---|---|---|---|", *rows, ""]))
    return "\n".join(sections)


def _fields(model: type[BaseModel]) -> tuple[list[str], list[type[BaseModel]]]:
    comments = _field_comments(model)
    rows, nested = [], []
    for name, field in model.model_fields.items():
        if (model.__name__, name) in INTERNAL:
            continue
        key = field.alias or name
        kind, models = _type(field.annotation)
        nested += models
        default = "required" if field.is_required() else _default(field)
        limits = _constraints(field)
        text = " ".join(filter(None, [field.description or comments.get(name, ""), limits]))
        rows.append(f"| `{key}` | {kind} | {default} | {_cell(text)} |")
    return rows, nested


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "its defaults"
        return f"`{value!r}`" if value else "empty"
    return "—" if field.default is None else f"`{field.default!r}`"


def _constraints(field) -> str:
    words = []
    for item in field.metadata:
        if (n := getattr(item, "min_length", None)) is not None:
            words.append("not empty" if n == 1 else f"at least {n} entries")
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            if (value := getattr(item, attr, None)) is not None:
                words.append(f"{sign} {value}")
    return f"({', '.join(words)})" if words else ""


def _type(annotation) -> tuple[str, list[type[BaseModel]]]:
    """A type as a reader of the YAML file sees it, and the models it refers to."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})", [annotation]
    if origin is typing.Literal:
        return " \\| ".join(f'`{a!r}`' for a in args), []
    if origin in (typing.Union, types.UnionType):
        parts = [_type(a) for a in args if a is not type(None)]
        return " \\| ".join(p[0] for p in parts), [m for p in parts for m in p[1]]
    if origin is dict:
        key, value = _type(args[0]), _type(args[1])
        return f"map of {key[0]} → {value[0]}", value[1]
    if origin is list:
        item = _type(args[0])
        return f"list of {item[0]}", item[1]
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation))), []


def _field_comments(model: type[BaseModel]) -> dict[str, str]:
    """Each field's comment in the model's source: the comment lines just above it and the one after it."""
    comments: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        above: list[str] = []
        lines: dict[int, list[str]] = {}
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                lines.setdefault(tok.start[0], []).append(tok.string.lstrip("#").strip())
        for number, line in enumerate(source.splitlines(), start=1):
            match = re.match(r"^    (\w+)\s*:", line)
            if line.strip().startswith("#") and line.startswith("    #"):
                above.append(" ".join(lines.get(number, [])))
                continue
            if match and not line.startswith("     "):
                trailing = [c for c in lines.get(number, []) if c and not c.startswith("noqa")]
                text = " ".join(above + trailing)
                if text:
                    comments[match.group(1)] = text
            above = []
    return comments


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


# ---- the module list ---------------------------------------------------------------------------------------


def module_list() -> str:
    """One table per package under src/moneypath: each module (or subpackage) and its docstring's summary."""
    base = SRC / "moneypath"
    out = []
    for package in sorted(p.parent for p in base.rglob("__init__.py")):
        dotted = ".".join(package.relative_to(SRC).parts)
        out += [f"### `{dotted}`", "", _summary(package / "__init__.py") or "", ""]
        rows = []
        for child in sorted(package.iterdir()):
            if child.suffix == ".py" and child.name != "__init__.py":
                rows.append(f"| `{child.stem}` | {_cell(_summary(child))} |")
            elif (child / "__init__.py").exists():
                rows.append(f"| `{child.name}/` | {_cell(_summary(child / '__init__.py'))} |")
        if rows:
            out += ["| module | what it does |", "|---|---|", *rows, ""]
    return "\n".join(out)


def _summary(path: Path) -> str:
    """A module docstring's first paragraph."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return " ".join(doc.split("\n\n")[0].split())


def layers() -> str:
    """The layers contract's layers, top first, as a numbered list."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layered = next(c for c in contracts if c["type"] == "layers")
    return "\n".join(f"{n}. " + ", ".join(f"`{p.strip()}`" for p in layer.split("|"))
                     for n, layer in enumerate(layered["layers"], start=1)) + "\n"


# ---- the instrumentation library's typed methods -----------------------------------------------------------

TYPED_METHOD = re.compile(r"(record|time|set|count|add)_")


def typed_methods() -> str:
    """The typed methods of `MoneyPath` in the order the class defines them, as `name(param, param=default)`."""
    from moneypath.instrument.signals import MoneyPath

    out = []
    for name, method in vars(MoneyPath).items():
        if callable(method) and TYPED_METHOD.match(name):
            params = list(inspect.signature(method).parameters.values())[1:]  # without self
            shown = [p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}" for p in params]
            out.append(f"`{name}({', '.join(shown)})`")
    return ", ".join(out) + ".\n"


# ---- command help ------------------------------------------------------------------------------------------


def command_help(*command: str) -> str:
    """`moneypath COMMAND [ACTION] --help`, run in this process at a fixed width."""
    from moneypath import cli

    out = io.StringIO()
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            cli.main([*command, "--help"])
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
    text = out.getvalue()
    if not text.startswith("usage:"):
        raise ValueError(f"moneypath {' '.join(command)} --help printed no usage")
    return text
