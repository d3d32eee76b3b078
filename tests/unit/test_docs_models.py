"""Every documented key is executed: each YAML example of the docs marked with what it is runs through the
command that reads it, and together they write every field path of the drill file (formats/drill.py), the
request template (formats/requests.py) and the catalog (catalog/model.py) — the test lists the paths no example
writes — and every placeholder the docs and `moneypath init`'s templates name.

A YAML example is marked on the line above its fence (tests/docs_examples.py says how other examples are):

- `<!-- example: drill file -->`: a whole drill file, `moneypath drill check`ed in a copy of the shipped project;
- `<!-- example: drill keys -->`: top-level keys of a drill file, put over runbooks/drills/duplicate-charge.yaml and
  checked so; `drill keys over <drill>` over another drill: a shipped one, or one of tests/foreign/drills (the
  ticket shop's, in its project as `moneypath init` writes it);
- `<!-- example: request template -->`: a request template, `load.requests` of that drill, checked so;
- `<!-- example: catalog keys -->`: keys of a catalog, merged into the shipped moneypath.yaml (a mapping key by key,
  anything else replaced) and `moneypath catalog check`ed; `catalog keys over <catalog>` into another one;
- `<!-- example: catalog file -->`: a whole catalog, `moneypath catalog check`ed.

A ${NAME} an example reads is set in the environment while it runs (and an unset one is refused: test_env_refs).
A model met at several places (a check's expectation, a call of the template) counts its keys once, under its
own name (`Expect:min`): the same model is read by the same code wherever it sits.
"""

from __future__ import annotations

import re
import shutil
from functools import cache
from pathlib import Path

import pytest
import yaml

from moneypath.catalog.model import Catalog
from moneypath.formats.drill import LOADER_FIELDS, Drill
from moneypath.formats.env_refs import ENV_REF
from moneypath.formats.requests import PLACEHOLDERS, Requests
from tests.conftest import ROOT, run_cli
from tests.docs_examples import blocks, pages
from tests.docs_models import field_paths, paths_in, shared_models

PROOF = re.compile(r"^(drill file|drill keys|request template|catalog keys|catalog file)(?: over (\S+))?$")
EXAMPLES = [b for page in pages() for b in blocks(page) if b.lang == "yaml" and PROOF.match(b.proof or "")]
BASE_DRILL = "runbooks/drills/duplicate-charge.yaml"
CATALOG_SKIP = {("Signal", "key"), ("Signal", "name"), ("Catalog", "path")}  # the loader's (docs_hooks.INTERNAL)
DRILL_SKIP = {("Drill", name) for name in LOADER_FIELDS}
# Paths no example writes, each with why an example would be absurd.
WITHOUT_EXAMPLE: dict[str, str] = {}


def _doc(block) -> dict:
    return yaml.safe_load(block.text)


@cache
def formats():
    """(model, keys the loader fills in, models counted elsewhere, models counted once under their name)."""
    drill_shared = shared_models(Drill, DRILL_SKIP, (Requests,))
    return {"drill": (Drill, DRILL_SKIP, (Requests,), drill_shared),
            "requests": (Requests, set(), (), shared_models(Requests)),
            "catalog": (Catalog, CATALOG_SKIP, (), shared_models(Catalog, CATALOG_SKIP))}


def documented(fmt: str) -> set[str]:
    model, skip, leaves, shared = formats()[fmt]
    return field_paths(model, skip, leaves, shared)


def written() -> dict[str, set[str]]:
    """The field paths the marked examples write, per format (a drill's inline template is a template's)."""
    out: dict[str, set[str]] = {"drill": set(), "requests": set(), "catalog": set()}
    for block in EXAMPLES:
        doc = _doc(block)
        if block.proof.startswith("drill"):
            out["drill"] |= paths_in(doc, *formats()["drill"])
            inline = (doc.get("load") or {}).get("requests") if isinstance(doc.get("load"), dict) else None
            if isinstance(inline, dict):
                out["requests"] |= paths_in(inline, *formats()["requests"])
        elif block.proof.startswith("request template"):
            out["requests"] |= paths_in(doc, *formats()["requests"])
        else:
            out["catalog"] |= paths_in(doc, *formats()["catalog"])
    return out


def merged(base, over):
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: merged(base.get(k), v) for k, v in over.items()}}
    return over


def project(over: str | None, tmp_path: Path, request) -> Path:
    """A copy of the project whose drill (or catalog) `over` names: the shipped one, or the ticket shop's."""
    root = tmp_path / "project"
    if over and over.startswith("tests/foreign/"):
        shutil.copytree(request.getfixturevalue("shop_project"), root)
        if over.endswith("moneypath.yaml"):
            shutil.copy(ROOT / over, root / "moneypath.yaml")
    else:
        root.mkdir()
        shutil.copy(ROOT / "moneypath.yaml", root)
        shutil.copytree(ROOT / "runbooks", root / "runbooks")
    return root


@pytest.mark.parametrize("block", EXAMPLES, ids=[b.where for b in EXAMPLES])
def test_each_yaml_example_is_read_as_the_command_reads_it(block, tmp_path, request, monkeypatch):
    for name in set(ENV_REF.findall(block.text)):
        monkeypatch.setenv(name, f"http://127.0.0.1:9/{name.lower()}")
    kind, over = PROOF.match(block.proof).groups()
    root, doc = project(over, tmp_path, request), _doc(block)
    if kind.startswith("catalog"):
        catalog = yaml.safe_load((root / "moneypath.yaml").read_text())
        (root / "moneypath.yaml").write_text(yaml.safe_dump(doc if kind == "catalog file" else merged(catalog, doc),
                                                            sort_keys=False))
        r = run_cli("catalog", "check", cwd=root)
        assert r.returncode == 0, f"{block.where}: moneypath catalog check\n{r.stdout}{r.stderr}"
        return
    drill = doc
    if kind != "drill file":
        base = "runbooks/drills/" + Path(over).name if over else BASE_DRILL
        drill = yaml.safe_load((root / base).read_text())
        if kind == "request template":
            (root / "runbooks/drills/requests/example.yaml").write_text(block.text)
            drill["load"] |= {"requests": "requests/example.yaml", **({} if doc.get("capture") else {"capture": 0})}
        else:
            drill |= doc
    path = root / "runbooks/drills/docs-example.yaml"
    path.write_text(yaml.safe_dump(drill, sort_keys=False))
    r = run_cli("drill", "check", str(path.relative_to(root)), cwd=root)
    assert r.returncode == 0, f"{block.where}: moneypath drill check\n{r.stdout}{r.stderr}"


@pytest.mark.parametrize("fmt", ["drill", "requests", "catalog"])
def test_every_field_path_of_a_format_is_in_an_example_that_runs(fmt):
    paths = documented(fmt)
    assert set(WITHOUT_EXAMPLE) <= {p for f in ("drill", "requests", "catalog") for p in documented(f)}
    missing = sorted(paths - written()[fmt] - set(WITHOUT_EXAMPLE))
    assert not missing, (f"{len(missing)} of {len(paths)} {fmt} field paths are in no example a test runs (a YAML "
                         "block of docs/ marked as tests/unit/test_docs_models.py says):\n  " + "\n  ".join(missing))


def test_every_placeholder_the_docs_and_init_name_is_in_an_example_that_runs():
    from moneypath.scaffold import pages as scaffold_pages

    named = set(PLACEHOLDERS) | {"${NAME}"}
    text = "".join(p.read_text() for p in pages()) + Path(scaffold_pages.__file__).read_text()
    assert {p for p in PLACEHOLDERS if "{" + p + "}" in text} == set(PLACEHOLDERS) and "${NAME}" in text
    used = "".join(b.text for b in EXAMPLES if b.proof.startswith(("request template", "drill")))
    shown = {p for p in PLACEHOLDERS if "{" + p + "}" in used} | ({"${NAME}"} if ENV_REF.search(used) else set())
    assert named <= shown, f"placeholders in no example that runs: {sorted(named - shown)}"


def test_the_walk_finds_nested_models_lists_and_mappings():
    paths = documented("drill")
    assert {"load.peak.headroom.spare", "tabletop.roles.*.due", "CheckSpec:expect", "Expect:rows_min",
            "fault.set", "Hook:expect_status"} <= paths
    doc = {"steady_state": [{"name": "x", "promql": "up", "expect": {"min": 1}}],
           "tabletop": {"roles": {"engineering": {"due": "15m"}}}, "nonsense": 1}
    assert paths_in(doc, *formats()["drill"]) == {"steady_state", "CheckSpec:name", "CheckSpec:promql",
                                                  "CheckSpec:expect", "Expect:min", "tabletop", "tabletop.roles",
                                                  "tabletop.roles.*.due"}
    assert re.fullmatch(r"[\w.*\[\]:]+", " ".join(paths).replace(" ", "."))
