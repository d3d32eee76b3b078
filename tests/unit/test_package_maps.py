"""Package maps stay true and complete: every module a package's docstring names exists, and it names them all.

A package docstring names a module in one of four ways, and only these are read (other prose is free):
- a dotted name, `moneypath.formats.drill` or `moneypath.protocol.faults.switches.Faults`: the longest part that
  is a module must exist and the next part must be defined in it (a file name such as moneypath.yaml is not one);
- a file name, `model.py` beside the `__init__.py`, or a path from the repository root (`benchmarks/x.py`);
- a "Modules:" paragraph, or one opening with a group's heading ("The judge's modules:"): each item it lists
  (`config (command-line configuration), faults (...)`);
- in a paragraph that maps modules, parentheses holding only lower-case names: `drill files (drill), their
  request templates (requests)` or `the report (plan_report, curves)`. A paragraph maps modules when one such
  parenthesis names a module or subpackage beside the `__init__.py`; then each of them must.
A package's modules are its `*.py` files but `__init__.py`, and its subpackages (folders with an `__init__.py`).
A module's docstring that names a file (`x.py`) in prose, outside code spans and indented examples, names one beside
it, in a package above it, or at the repository root; a dotted name there is read as in a package's.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

SRC = ROOT / "src"
PACKAGES = sorted(p.parent for p in (SRC / "moneypath").rglob("__init__.py"))
IDENT = r"[a-z_][a-z0-9_]*"
DOTTED = re.compile(r"\bmoneypath(?:\.\w+)+")
NOT_DOTTED = re.compile(r"\.(yaml|yml|json|md|toml|py|txt|html)$")
FILE = re.compile(rf"(?<![\w/.])((?:[\w.-]+/)*{IDENT})\.py\b")
PARENS = re.compile(rf"(?<=\s)\((\s*`?{IDENT}`?(?:\s*,\s*`?{IDENT}`?)*\s*)\)")
PARAGRAPH = re.compile(r"(?:[^\n]+\n?)+")
MODULES = re.compile(r"^(?:[A-Z][\w' -]* )?[Mm]odules:")
CODE = re.compile(r"`[^`\n]*`|^ {4}.*$", re.MULTILINE)


def module_file(folder: Path, name: str) -> Path | None:
    for path in (folder / f"{name}.py", folder / name / "__init__.py"):
        if path.exists():
            return path
    return None


def defines(module: Path) -> set[str]:
    """The names a module's top level binds (functions, classes, assignments, imports, submodules)."""
    names = {p.stem for p in module.parent.iterdir()} if module.name == "__init__.py" else set()
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def dotted_problem(dotted: str) -> str | None:
    parts = dotted.split(".")
    for n in range(len(parts), 1, -1):
        found = module_file(SRC.joinpath(*parts[:n - 1]), parts[n - 1])
        if found is not None:
            rest = parts[n:]
            return None if not rest or rest[0] in defines(found) else f"{'.'.join(parts[:n])} has no {rest[0]}"
    return f"moneypath has no {parts[1]}"


def named(doc: str, package: Path) -> list[tuple[int, str, str]]:
    """(offset in the docstring, how, name) for each module the docstring names, in the four ways."""
    out = [(m.start(), "dotted", m.group()) for m in DOTTED.finditer(doc) if not NOT_DOTTED.search(m.group())]
    out += [(m.start(), "file", m.group(1)) for m in FILE.finditer(doc)]
    for para in PARAGRAPH.finditer(doc):
        if heading := MODULES.match(para.group()):
            out += listed(para.group()[heading.end():], para.start() + heading.end())
        groups = [(para.start() + m.start(1), [n.strip(" `\n") for n in m.group(1).split(",")])
                  for m in PARENS.finditer(para.group())]
        if any(module_file(package, name) for _, names in groups for name in names):
            out += [(offset, "(…)", name) for offset, names in groups for name in names]
    return out


def listed(text: str, base: int) -> list[tuple[int, str, str]]:
    """A "Modules:" paragraph's items (split at commas outside parentheses): the names before each one's "("."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text + ","):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            head = text[start:i].split("(")[0]
            out += [(base + start + m.start(1), "Modules:", m.group(1))
                    for m in re.finditer(rf"`?({IDENT})`?", head) if m.group(1) != "and"]
            start = i + 1
    return out


def problems(package: Path) -> list[str]:
    source = (package / "__init__.py").read_text()
    node = ast.parse(source).body[0] if ast.get_docstring(ast.parse(source)) else None
    if node is None:
        return []
    doc, lines = ast.get_docstring(ast.parse(source)), source.splitlines()
    found = []
    for offset, how, name in named(doc, package):
        if how == "dotted":
            problem = dotted_problem(name)
        elif how == "file":
            exists = (package / f"{name}.py").exists() or (ROOT / f"{name}.py").exists()
            problem = None if exists else "no such file"
        else:
            problem = None if module_file(package, name) is not None else "no such module or subpackage"
        if problem is not None:
            line = node.lineno + doc[:offset].count("\n")
            dotted = ".".join(package.relative_to(SRC).parts)
            found.append(f"{package.relative_to(ROOT)}/__init__.py:{line}: package {dotted} names {name!r} "
                         f"({how}): {problem}\n    {lines[line - 1].strip()}")
    return found


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: ".".join(p.relative_to(SRC).parts))
def test_every_module_a_package_docstring_names_exists(package):
    found = problems(package)
    assert not found, "\n".join(found)


def members(package: Path) -> set[str]:
    """The package's modules (`*.py` but `__init__`) and subpackages (folders with an `__init__.py`)."""
    return ({p.stem for p in package.glob("*.py") if p.name != "__init__.py"}
            | {p.parent.name for p in package.glob("*/__init__.py")})


def mapped(doc: str, package: Path) -> set[str]:
    """The members of `package` its docstring names: a dotted name counts for the member right below the package,
    a file name only beside the `__init__.py`."""
    prefix = ".".join(package.relative_to(SRC).parts) + "."
    out = set()
    for _, how, name in named(doc, package):
        if how == "dotted":
            if name.startswith(prefix):
                out.add(name[len(prefix):].split(".")[0])
        elif how != "file" or "/" not in name:
            out.add(name)
    return out


def unmapped(package: Path) -> list[str]:
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    return sorted(members(package) - mapped(doc, package))


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: ".".join(p.relative_to(SRC).parts))
def test_every_package_docstring_names_every_module_of_its_package(package):
    missing = unmapped(package)
    assert not missing, (f"{package.relative_to(ROOT)}/__init__.py: package "
                         f"{'.'.join(package.relative_to(SRC).parts)} does not name {', '.join(missing)}")


MODULES_OF_PACKAGES = sorted(p for p in (SRC / "moneypath").rglob("*.py") if p.name != "__init__.py")


def module_problems(module: Path) -> list[str]:
    """A module docstring's file names (outside code spans and indented examples) and dotted names that name
    nothing: a file is looked for beside the module, in each package above it, and at the repository root."""
    doc = ast.get_docstring(ast.parse(module.read_text())) or ""
    prose = CODE.sub("", doc)
    places = [module.parent, *[p for p in module.parents if p.is_relative_to(SRC / "moneypath")], ROOT]
    found = [f"names {m.group(1)}.py: no such file" for m in FILE.finditer(prose)
             if not any((place / f"{m.group(1)}.py").exists() for place in places)]
    found += [f"names {m.group()}: {problem}" for m in DOTTED.finditer(doc)
              if not NOT_DOTTED.search(m.group()) and (problem := dotted_problem(m.group())) is not None]
    return found


@pytest.mark.parametrize("module", MODULES_OF_PACKAGES, ids=lambda p: ".".join(p.relative_to(SRC).with_suffix("").parts))
def test_every_file_a_module_docstring_names_exists(module):
    found = module_problems(module)
    assert not found, f"{module.relative_to(ROOT)}: " + "; ".join(found)


def test_the_four_ways_are_read():
    package = SRC / "moneypath" / "formats"
    doc = ("Parts: drill.py reads, as in benchmarks/bench_faultproxy.py; see moneypath.formats.drill and\n"
           "moneypath.protocol.faults.switches.Faults, not moneypath.yaml. Not (a sentence), not f(x, y), not (bounded).\n"
           "\n"
           "Drill files (drill), their request templates (`requests`) and what a fault may set (faults).\n"
           "\n"
           "Modules: config (command-line configuration), handlers and admin (the routes, as named functions),\n"
           "server (the app).\n"
           "\n"
           "The judge's modules: judge (one look), spending (the error spending).\n")
    found = sorted((how, name) for _, how, name in named(doc, package))
    assert found == sorted([
        ("file", "drill"), ("file", "benchmarks/bench_faultproxy"),
        ("dotted", "moneypath.formats.drill"), ("dotted", "moneypath.protocol.faults.switches.Faults"),
        ("(…)", "drill"), ("(…)", "requests"), ("(…)", "faults"),
        ("Modules:", "config"), ("Modules:", "handlers"), ("Modules:", "admin"), ("Modules:", "server"),
        ("Modules:", "judge"), ("Modules:", "spending")])
    assert mapped(doc, package) == {"drill", "requests", "faults", "config", "handlers", "admin", "server", "judge",
                                    "spending"}
    assert dotted_problem("moneypath.protocol.faults.switches.Faults") is None
    assert dotted_problem("moneypath.formats.faults") == "moneypath.formats has no faults"
    assert dotted_problem("moneypath.drillz.runner") == "moneypath has no drillz"


def test_a_module_docstring_is_read_outside_its_code_spans_and_examples():
    doc = "Run it as `locust -f yours.py`; drawn by layout.py.\n\n    # settings.py\n    MONEYPATH = {}\n"
    assert [m.group(1) for m in FILE.finditer(CODE.sub("", doc))] == ["layout"]
