"""docs/drills.md's "Run it": the tabletop drill `moneypath init` wrote checks clean as it is; with only a `load:`
naming the request template and a `fault:`, `drill check` says what a drill that runs still needs (one line, file,
line and key); with the keys the page shows added, it answers OK. On the ticket shop's project."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from tests.docs_examples import code_block
from tests.foreign.harness import SHOP_INIT_ARGS

DRILL = "runbooks/drills/shopproviderpartialoutage.yaml"
KEYS = code_block("docs/drills.md", "Drilling your own service", "yaml", 4)
TABLETOP: dict[Path, str] = {}  # project → its drill as init wrote it


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shop") / "ops"
    result = run_cli("init", str(root), *SHOP_INIT_ARGS)
    assert result.returncode == 0, result.stderr
    TABLETOP[root] = (root / DRILL).read_text()
    return root


def _check(project: Path, added: str):
    """`drill check` on the init-written drill with `added` at its end."""
    (project / DRILL).write_text(TABLETOP[project] + added)
    return run_cli("drill", "check", str(project / DRILL), "--catalog", str(project / "moneypath.yaml"))


def test_the_init_written_drill_checks_clean_once_the_docs_keys_are_added(project):
    assert _check(project, "").returncode == 0  # a tabletop drill as written
    keys = yaml.safe_load(KEYS)
    bare = yaml.safe_dump({"load": {"requests": keys["load"]["requests"]}, "fault": keys["fault"]})
    result = _check(project, bare)
    assert result.returncode == 2 and f"{DRILL}:" in result.stderr and "load.rate: Field required" in result.stderr
    without_steady = {k: v for k, v in keys.items() if k != "steady_state"}
    result = _check(project, yaml.safe_dump(without_steady))
    assert result.returncode == 2 and "needs steady_state" in result.stderr
    result = _check(project, KEYS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{DRILL}: OK — rehearses ShopProviderPartialOutage, fault error_rate")
