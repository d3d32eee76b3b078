"""The parts of the docs that are generated from the code, so they cannot drift from it. A page asks for one with
a pair of HTML comments, each on a line of its own, and the content between them is committed filled in (so a
page reads complete as plain Markdown, on the forge too):

    <!-- generated: help init -->
    …generated content…
    <!-- end generated -->

- `<!-- generated: catalog-reference -->`: every key of moneypath.yaml, from the catalog's pydantic model
  (types, defaults, constraints; descriptions from the model's docstrings and field comments);
- `<!-- generated: modules -->`: every package and module under src/moneypath, with its docstring's summary;
- `<!-- generated: layers -->`: the layers contract of import-linter in pyproject.toml;
- `<!-- generated: typed-methods -->`: the typed methods of `MoneyPath` (record_/time_/set_/count_/add_), with
  their parameters;
- `<!-- generated: help COMMAND [ACTION] -->`: `moneypath COMMAND [ACTION] --help`, as the parser prints it.
- `<!-- generated: money-path-section -->`: the reference catalog's `money_path:` section, as an example the
  tests run (`catalog keys`).

Files drawn from the code (ASSETS) are kept the same way: docs/assets/money-path.svg is the reference service's
map, drawn by `moneypath.map.render` (Graphviz dot) from moneypath.yaml; its first line records a digest of
what it was drawn from (the map's nodes and edges, the drawing code), so --check needs no dot and --write redraws
it only when that changed.

`python scripts/docs_hooks.py --write` (`make docs`) fills every section of README.md and docs/**/*.md in
afresh (a new marker needs no end line: --write adds it); `--check` only says which are stale (exit 1).
tests/unit/test_docs.py runs the check, so a stale section fails the unit tier. As a MkDocs hook
(mkdocs.yml: hooks) it fills the sections in the same way as the site is built.

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
import stat
import sys
import tempfile
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

BEGIN = re.compile(r"^<!-- generated: ([\w-]+)((?: [\w-]+)*) -->$")
END = "<!-- end generated -->"
FIX = ".venv/bin/python scripts/docs_hooks.py --write"  # what --check and the unit test tell a reader to run
# Fields the loader fills in (the signal's key and exported name, the file it was read from): never written in YAML.
INTERNAL = {("Signal", "key"), ("Signal", "name"), ("Catalog", "path")}
HELP_COLUMNS = "78"  # what the theme's content column shows without scrolling
# The Python the help sections are generated with (CI's and the venv's): argparse's layout of a help page may
# change between Python versions, so another version may see them stale.
HELP_PYTHON = (3, 11)


def python_note() -> str:
    """A warning when this Python is not the one the help sections are generated with (empty when it is)."""
    if sys.version_info[:2] == HELP_PYTHON:
        return ""
    return (f"note: this is Python {sys.version_info[0]}.{sys.version_info[1]}; the help sections are generated "
            f"with Python {HELP_PYTHON[0]}.{HELP_PYTHON[1]} (argparse's layout differs between versions)")


def on_page_markdown(markdown: str, page, config, files) -> str:
    """The page with its generated sections filled in afresh: what is committed, when it is fresh."""
    return refresh(markdown, page.file.src_path)[0]


def render(kind: str, args: list[str], where: str) -> str:
    """The Markdown of one generated section."""
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
    if kind == "money-path-section":
        return "<!-- example: catalog keys -->\n```yaml\n" + money_path_section() + "```"
    raise ValueError(f"{where}: unknown generated part {kind!r}")


# ---- filling the sections in, in place ---------------------------------------------------------------------


def refresh(text: str, where: str) -> tuple[str, list[str]]:
    """`text` with every generated section filled in afresh, and the names of the sections whose content changed.

    A section is a begin marker and the lines up to the next end marker; a begin marker with no end marker before
    the next begin marker (or the end of the file) is a new section: its end marker is added. Markers inside a
    fenced block (an example of the syntax) are left alone. The content is set off by blank lines, so the
    comments stay HTML blocks of their own and a table or fence after them parses as one."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    changed: list[str] = []
    fenced, i = False, 0
    while i < len(lines):
        line = lines[i]
        begin = None if fenced else BEGIN.match(line.rstrip("\n"))
        if begin is None:
            fenced ^= line.startswith("```")
            out.append(line)
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines))
                    if lines[j].rstrip("\n") == END or BEGIN.match(lines[j].rstrip("\n"))), len(lines))
        closed = end < len(lines) and lines[end].rstrip("\n") == END
        old = "".join(lines[i + 1:end]) if closed else None
        new = "\n" + render(begin.group(1), begin.group(2).split(), where).strip("\n") + "\n\n"
        if not closed or new != old or lines[end] != END + "\n":
            changed.append(" ".join([begin.group(1), *begin.group(2).split()]))
        out += [line if line.endswith("\n") else line + "\n", new, END + "\n"]
        i = end + 1 if closed else i + 1  # a new section: the lines after its marker are the page's own
    return "".join(out), changed


def pages(root: Path = ROOT) -> list[Path]:
    """The Markdown files that may hold generated sections: the README and every page of the site."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def stale(paths: list[Path] | None = None) -> list[str]:
    """`FILE: SECTION` for every generated section that is not what the code generates today (empty when fresh)."""
    found = [f"{_name(path)}: {section}" for path in (pages() if paths is None else paths) if path.is_file()
             for section in refresh(path.read_text(), _name(path))[1]]
    return found + ([f"{_name(path)}: drawn from older inputs" for path in stale_assets()] if paths is None else [])


def write(paths: list[Path] | None = None) -> list[Path]:
    """Fill every generated section in afresh; a file is rewritten (atomically) only when it changed. Returns
    the files rewritten."""
    written = write_assets() if paths is None else []
    for path in pages() if paths is None else paths:
        if not path.is_file():
            continue
        text = path.read_text()
        new, _ = refresh(text, _name(path))
        if new != text:
            _replace(path, new)
            written.append(path)
    return written


def _replace(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path` (a reader sees either version)."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temp, stat.S_IMODE(path.stat().st_mode))
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/docs_hooks.py", description="Fill in the generated sections of "
                                     "README.md and docs/**/*.md (--write), or say which are stale (--check).")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite every file whose sections are stale")
    mode.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each stale section")
    args = parser.parse_args(argv)  # bad usage: exit 2
    if note := python_note():
        print(note, file=sys.stderr)
    if args.check:
        found = stale()
        for line in found:
            print(f"stale: {line}", file=sys.stderr)
        if found:
            print(f"fill them in: {FIX}  (or make docs)", file=sys.stderr)
        return 1 if found else 0
    from moneypath.map.layout import LayoutError

    try:
        for path in write():
            print(f"wrote {_name(path)}")
    except LayoutError as exc:
        print(f"scripts/docs_hooks.py: {exc}", file=sys.stderr)
        return 2
    return 0


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
    """The layers contract's layers, top first, as a numbered list (`a | b`: independent; `a : b`: modules of one
    room that may import each other)."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layered = next(c for c in contracts if c["type"] == "layers")

    def line(layer: str) -> str:
        joined = ":" in layer
        names = ", ".join(f"`{p.strip()}`" for p in layer.split(":" if joined else "|"))
        return names + (" (one room's modules, which may import each other)" if joined else "")

    return "\n".join(f"{n}. {line(layer)}" for n, layer in enumerate(layered["layers"], start=1)) + "\n"


# ---- the instrumentation library's typed methods -----------------------------------------------------------

TYPED_METHOD = re.compile(r"(record|time|set|count|add)_")


def typed_methods() -> str:
    """The typed methods of `MoneyPath` in the order the class defines them (then its mixins, e.g. the web
    methods), as `name(param, param=default)`."""
    from moneypath.instrument import MoneyPath

    out, seen = [], set()
    for name, method in (item for cls in MoneyPath.__mro__ for item in vars(cls).items()):
        if callable(method) and TYPED_METHOD.match(name) and name not in seen:
            seen.add(name)
            params = list(inspect.signature(method).parameters.values())[1:]  # without self
            shown = [p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}" for p in params]
            out.append(f"`{name}({', '.join(shown)})`")
    return ", ".join(out) + ".\n"


# ---- the money-path map: its section as an example, its picture ------------------------------------------

MAP_CATALOG = ROOT / "moneypath.yaml"
MAP_CODE = ("graph.py", "marks.py", "layout.py", "legend.py", "render.py", "shapes.py")


def money_path_section() -> str:
    """The reference catalog's `money_path:` section, as written there."""
    found = re.search(r"(?ms)^money_path:.*?(?=^\S|\Z)", MAP_CATALOG.read_text())
    if found is None:
        raise ValueError(f"{_name(MAP_CATALOG)} has no money_path: section")
    return found.group(0).rstrip("\n") + "\n"


def _reference_map():
    import dataclasses

    from moneypath.catalog import load_catalog
    from moneypath.map.graph import build_map

    graph = build_map([load_catalog(MAP_CATALOG)])
    graph.edges = [dataclasses.replace(e, catalog_path="") for e in graph.edges]  # not drawn; differs per checkout
    return graph


def map_digest() -> str:
    """sha256 of what the picture is drawn from: the map's nodes and edges, and the code that draws them."""
    import hashlib

    graph = _reference_map()
    digest = hashlib.sha256(repr((sorted(graph.nodes.items()), graph.edges)).encode())
    for name in MAP_CODE:
        digest.update((SRC / "moneypath" / "map" / name).read_bytes())
    return digest.hexdigest()


def _map_header(digest: str) -> str:
    return f"<!-- drawn by {FIX} from moneypath.yaml; inputs sha256:{digest} -->\n"


def draw_map() -> str:
    from moneypath.map.render import render_svg

    return _map_header(map_digest()) + render_svg(_reference_map())


ASSETS = {ROOT / "docs" / "assets" / "money-path.svg": (lambda: _map_header(map_digest()), draw_map)}


def stale_assets() -> list[Path]:
    """The drawn files whose first line names other inputs than today's (or that are missing)."""
    out = []
    for path, (header, _) in ASSETS.items():
        text = path.read_text() if path.is_file() else ""
        if not text.startswith(header()):
            out.append(path)
    return out


def write_assets() -> list[Path]:
    out = []
    for path in stale_assets():
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_new(path, ASSETS[path][1]())
        out.append(path)
    return out


def _replace_new(path: Path, text: str) -> None:
    if not path.exists():
        path.write_text("")
    _replace(path, text)


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


if __name__ == "__main__":
    sys.exit(main())
