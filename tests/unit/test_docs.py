"""The README and the docs site (docs/, mkdocs.yml) stay true: every shell and Python example is run by a test
(tests/docs_examples.py says how a page names it), the runnable ones are run here, the generated parts cover
what they are generated from, and the README stays short. `make test` builds the site with --strict."""

from __future__ import annotations

import ast
import importlib.util
import re
import shlex
import shutil
from glob import glob
from pathlib import Path

import pytest

from moneypath.catalog.model import Catalog
from tests.conftest import ROOT, run_cli
from tests.docs_examples import EXAMPLE_LANGS, blocks, find_block, pages, sessions

README_MAX_LINES = 250
EXAMPLES = [b for page in pages() for b in blocks(page) if b.lang in EXAMPLE_LANGS]
RUN = [b for b in EXAMPLES if b.proof == "run"]


def hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts" / "docs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_shell_and_python_example_says_what_runs_it():
    problems = []
    for page in pages():
        for block in blocks(page):
            if not block.lang and block.text.startswith("$ "):
                problems.append(f"{block.where}: a shell session: mark its fence ```console")
    for block in EXAMPLES:
        if block.proof is None:
            problems.append(f"{block.where}: no <!-- example: … --> line above it (tests/docs_examples.py)")
            continue
        for proof in block.proof.split(", "):
            if proof in ("run", "Makefile"):
                continue
            path, _, test = proof.partition("::")
            source = ROOT / path
            if not (path.startswith("tests/") and source.is_file() and test):
                problems.append(f"{block.where}: {proof}: not tests/<file>.py::<test>")
            elif not re.search(rf"^(async )?def {re.escape(test)}\(", source.read_text(), re.M):
                problems.append(f"{block.where}: {path} has no test {test}")
    assert not problems, "\n".join(problems)


def test_every_test_a_page_names_reads_that_example_from_the_page():
    """A test named above an example runs the example as written: its file calls `code_block` for that very block
    (a static check: the call's arguments are literals or the module's constants), so it cannot drift into its
    own copy of the command."""
    reads: dict[str, set[tuple[str, int]]] = {}
    problems = []
    for block in EXAMPLES:
        for proof in (block.proof or "").split(", "):
            if proof in ("", "run", "Makefile"):
                continue
            path = proof.partition("::")[0]
            if path not in reads:
                reads[path] = examples_read(ROOT / path)
            if (str(block.page.relative_to(ROOT)), block.line) not in reads[path]:
                problems.append(f"{block.where}: {path} does not read it with code_block(page, heading, lang[, nth])")
    assert not problems, "\n".join(problems)


def examples_read(source: Path) -> set[tuple[str, int]]:
    """(page, line of the fence) of every example a test file reads with `code_block`."""
    tree = ast.parse(source.read_text())
    constants = {}
    for node in (n for n in tree.body if isinstance(n, ast.Assign)):
        for target in node.targets:  # NAME = "…" and NAME, OTHER = "…", "…"
            pairs = (zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple)
                     and isinstance(node.value, ast.Tuple) else [(target, node.value)])
            constants |= {t.id: v.value for t, v in pairs if isinstance(t, ast.Name) and isinstance(v, ast.Constant)}

    def value(node):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name) and node.id in constants:
            return constants[node.id]
        raise AssertionError(f"{source.relative_to(ROOT)}:{node.lineno}: code_block takes literals or constants")

    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "code_block":
            args = [value(a) for a in node.args]
            kwargs = {k.arg: value(k.value) for k in node.keywords}
            block = find_block(*args, **kwargs)
            found.add((str(block.page.relative_to(ROOT)), block.line))
    return found


def test_python_examples_parse():
    for block in (b for b in EXAMPLES if b.lang == "python"):
        ast.parse(block.text, filename=block.where)


def test_makefile_examples_name_its_targets_and_tools():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    for block in (b for b in EXAMPLES if b.proof == "Makefile"):
        for argv in commands(block):
            if argv[0] == "make":
                assert set(argv[1:]) <= targets, f"{block.where}: {argv}: not a Makefile target"
            else:
                assert f"$(BIN)/{Path(argv[0]).name}" in makefile, f"{block.where}: the Makefile never runs {argv[0]}"


@pytest.mark.parametrize("block", RUN, ids=[b.where for b in RUN])
def test_runnable_examples_run_and_print_what_the_page_shows(block, tmp_path):
    """In a copy of the shipped project, so a command that writes (export) writes there."""
    shutil.copy(ROOT / "moneypath.yaml", tmp_path)
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    for argv, shown in sessions(block.text):
        assert Path(argv[0]).name == "moneypath", f"{block.where}: only moneypath commands run here: {argv}"
        args = [a for arg in argv[1:] for a in (sorted(glob(arg, root_dir=tmp_path)) if "*" in arg else [arg])]
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 0, f"{block.where}: moneypath {shlex.join(args)}\n{result.stdout}{result.stderr}"
        printed = result.stdout + result.stderr
        for line in shown:
            assert line in printed, f"{block.where}: moneypath {shlex.join(args)} no longer prints {line!r}"


def commands(block) -> list[list[str]]:
    """The command lines of a shell example (continuations joined, comments dropped)."""
    text = block.text.replace("\\\n", " ")
    return [argv for line in text.splitlines() if (argv := shlex.split(line, comments=True))]


def test_readme_is_short_and_links_the_docs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), f"README.md links {link}, which does not exist"


def test_every_command_has_a_page_with_its_help():
    listed = re.findall(r"^    ([\w-]+)\s", run_cli("--help").stdout, re.M)
    documented = {m.split()[0] for page in (ROOT / "docs" / "cli").glob("*.md")
                  for m in re.findall(r"<!-- generated: help ([\w -]+?) -->", page.read_text())}
    assert listed and set(listed) <= documented, f"no docs/cli page for: {sorted(set(listed) - documented)}"
    assert documented <= set(listed), f"docs/cli pages for commands that do not exist: {sorted(documented - set(listed))}"


def test_the_catalog_reference_has_every_key_of_the_model():
    page = hooks().catalog_reference()
    seen, queue = set(), [Catalog]
    while queue:
        model = queue.pop()
        if model in seen:
            continue
        seen.add(model)
        section = re.search(rf"^## {model.__name__}\n(.*?)(?=^## |\Z)", page, re.S | re.M)
        assert section, f"the catalog reference has no section for {model.__name__}"
        for name, field in model.model_fields.items():
            if (model.__name__, name) in hooks().INTERNAL:
                continue
            assert f"| `{field.alias or name}` |" in section.group(1), f"{model.__name__}.{name} is not in the reference"
            queue += [t for t in _models(field.annotation)]


def _models(annotation):
    from typing import get_args

    from pydantic import BaseModel
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _models(arg)


def test_the_module_list_has_every_module_and_the_repository_tree_exists():
    modules = hooks().module_list()
    for path in (ROOT / "src" / "moneypath").rglob("*.py"):
        if path.name != "__init__.py":
            assert f"| `{path.stem}` |" in modules, f"{path.relative_to(ROOT)} is not in the architecture page"
    page = (ROOT / "docs" / "reference" / "architecture.md").read_text()
    tree = re.search(r"^## The repository\n.*?```\n(.*?)```", page, re.S | re.M).group(1)
    for line in tree.splitlines():
        for name in filter(None, (n.strip() for n in re.split(r"\s{2,}", line)[0].split(","))):
            assert (ROOT / name).exists(), f"docs/reference/architecture.md names {name}, which does not exist"


def test_the_typed_method_list_has_every_public_method_but_the_plumbing_and_the_generic_ones():
    from moneypath.instrument import MoneyPath

    listed = hooks().typed_methods()
    plumbing = {"from_catalog", "registry", "metrics_app", "start_metrics_server", "count", "observe", "set"}
    for name in (n for n in vars(MoneyPath) if not n.startswith("_") and n not in plumbing):
        assert f"`{name}(" in listed, f"MoneyPath.{name} is not in docs/instrumenting.md's list of typed methods"
    assert "`set_ledger_imbalance(currency, minor_units)`" in listed


def test_the_generated_sections_are_committed_fresh():
    """README.md and docs/**/*.md carry their generated sections filled in (so they read complete on the forge):
    each must be what the code generates today."""
    docs = hooks()
    stale = docs.stale()
    assert not stale, ("generated sections out of date with the code:\n  " + "\n  ".join(stale)
                       + f"\nfill them in: {docs.FIX}  (or make docs), then commit the pages\n{docs.python_note()}")


def test_a_stale_section_is_named_and_write_fills_it_in_only_where_it_changed(tmp_path):
    docs = hooks()
    fresh = (ROOT / "docs" / "cli" / "init.md").read_text()
    assert "<!-- end generated -->" in fresh and "usage: moneypath init" in fresh
    stale, other = tmp_path / "init.md", tmp_path / "lint.md"
    stale.write_text(fresh.replace("usage: moneypath init", "usage: moneypath init --gone"))
    shutil.copy(ROOT / "docs" / "cli" / "lint.md", other)
    before = other.stat().st_mtime_ns
    assert docs.stale([stale, other]) == [f"{stale}: help init"]
    assert docs.write([stale, other]) == [stale]
    assert stale.read_text() == fresh and other.stat().st_mtime_ns == before
    assert docs.stale([stale, other]) == [] and docs.write([stale, other]) == []
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_new_marker_gets_its_end_and_an_example_of_the_syntax_is_left_alone():
    docs = hooks()
    page = "# Page\n\n<!-- generated: layers -->\nText after.\n\n```md\n<!-- generated: layers -->\n```\n"
    filled, changed = docs.refresh(page, "page.md")
    assert changed == ["layers"]
    assert filled.startswith(f"# Page\n\n<!-- generated: layers -->\n\n{docs.layers().strip()}\n\n"
                             "<!-- end generated -->\nText after.\n")
    assert filled.endswith("```md\n<!-- generated: layers -->\n```\n")
    assert docs.refresh(filled, "page.md") == (filled, [])
    with pytest.raises(ValueError, match="page.md: unknown generated part 'nothing'"):
        docs.refresh("<!-- generated: nothing -->\n", "page.md")


def test_the_docs_script_takes_write_or_check():
    with pytest.raises(SystemExit) as exit_:
        hooks().main([])
    assert exit_.value.code == 2


def test_the_maps_picture_is_the_reference_map_and_is_named_stale_when_its_inputs_change(tmp_path, monkeypatch):
    """docs/assets/money-path.svg (docs/map.md's picture) is drawn by dot, which the unit tier does not start: its
    first line records a digest of what it was drawn from, checked here without drawing."""
    import xml.etree.ElementTree as ET

    from moneypath.catalog import load_catalog
    from moneypath.map.graph import build_map

    docs = hooks()
    picture = ROOT / "docs" / "assets" / "money-path.svg"
    assert docs.stale_assets() == []
    root = ET.fromstring(picture.read_text().split("\n", 1)[1])
    drawn = {g.get("data-node") for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"}
    assert drawn == set(build_map([load_catalog(ROOT / "moneypath.yaml")]).nodes)
    changed = tmp_path / "moneypath.yaml"
    changed.write_text((ROOT / "moneypath.yaml").read_text().replace("label: outbox queues", "label: outbox"))
    monkeypatch.setattr(docs, "MAP_CATALOG", changed)
    assert docs.stale_assets() == [picture]
    assert "docs/assets/money-path.svg: drawn from older inputs" in docs.stale()
