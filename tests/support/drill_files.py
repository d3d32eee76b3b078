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


def unlined(problems: list[str], path: Path, rel: str) -> list[str]:
    """The problems without their line numbers, after checking each names `rel:line:` and that the line holds the
    key the problem names (or, for a key the file lacks, its nearest ancestor; a list item's `- `). A problem in
    load.requests names its line inside (drill_errors.problem)."""
    text = path.read_text().splitlines()
    out = []
    for problem in problems:
        assert problem.startswith(rel), problem
        head, sep, rest = problem[len(rel):].partition(": ")
        key = rest.partition(": ")[0]
        if key in ("load.requests", "(file)") and not head:
            out.append(problem)
            continue
        assert head.startswith(":") and head[1:].isdigit(), problem
        line = text[int(head[1:]) - 1]
        segments = [s for s in key.split(".") if not s.isdigit()]
        assert any(f"{s}:" in line for s in segments) or line.lstrip().startswith("- "), (problem, line)
        out.append(f"{rel}: {rest}")
    return out
