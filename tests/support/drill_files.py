"""Drill files for tests: a shipped drill with one field changed, written where the drill checks look for it."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import ROOT

GOOD = ROOT / "runbooks" / "drills" / "duplicate-charge.yaml"


def variant(tmp_path: Path, edit, source: Path = GOOD, name: str = "x.yaml", catalog: bool = False) -> Path:
    """`source` edited by `edit(doc)`, written as runbooks/drills/`name` under `tmp_path` with the runbook pages
    and request templates beside it (and the repository's catalog, with `catalog`)."""
    doc = yaml.safe_load(source.read_text())
    edit(doc)
    path = tmp_path / "runbooks" / "drills" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    # the runbook pages live beside the drills, as in the repository
    for page in (ROOT / "runbooks").glob("*.md"):
        (tmp_path / "runbooks" / page.name).write_text(page.read_text())
    requests = tmp_path / "runbooks" / "drills" / "requests"
    requests.mkdir(exist_ok=True)
    for file in (ROOT / "runbooks" / "drills" / "requests").glob("*.yaml"):
        (requests / file.name).write_text(file.read_text())
    if catalog:
        (tmp_path / "moneypath.yaml").write_text((ROOT / "moneypath.yaml").read_text())
    return path


def set_field(path: str, value):
    def edit(doc):
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return edit


DELETE = object()
