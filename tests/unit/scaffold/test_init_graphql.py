"""`moneypath init --operations`: the graphql feature's signals with the operations given, its dashboard row, a
project that builds and lints clean; without it nothing of GraphQL exists."""

from __future__ import annotations

import json

from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import GRAPHQL_OUTCOMES, Key
from tests.conftest import run_cli

BASE = ("--service", "shop", "--providers", "paystack,mollie", "--currencies", "USD,JPY", "--routes", "/graphql/")
OPERATIONS = "CheckoutCreate,CheckoutPaymentCreate,CheckoutComplete"


def overview_rows(root) -> list[str]:
    (board,) = (root / "dashboards").glob("*overview*.json")
    return [p["title"] for p in json.loads(board.read_text())["panels"] if p["type"] == "row"]


def test_operations_switch_the_feature_on_and_the_project_builds_and_lints(tmp_path):
    root = tmp_path / "ops"
    assert run_cli("init", str(root), *BASE, "--operations", OPERATIONS).returncode == 0
    c = load_catalog(root / "moneypath.yaml")
    assert c.enabled("graphql") and c.has(Key.GRAPHQL_OPERATIONS_TOTAL, Key.GRAPHQL_OPERATION_DURATION_SECONDS)
    ops = c.signals[Key.GRAPHQL_OPERATIONS_TOTAL]
    assert list(ops.labels["operation"]) == OPERATIONS.split(",")
    assert list(ops.labels["outcome"]) == list(GRAPHQL_OUTCOMES)
    assert c.signals[Key.GRAPHQL_OPERATION_DURATION_SECONDS].labels["operation"] == ops.labels["operation"]
    assert "GraphQL operations" in overview_rows(root)
    for command in ("build", "lint"):
        result = run_cli(command, "--root", str(root))
        assert result.returncode == 0, result.stdout + result.stderr


def test_without_operations_nothing_of_graphql_exists(tmp_path):
    root = tmp_path / "ops"
    assert run_cli("init", str(root), *BASE).returncode == 0
    c = load_catalog(root / "moneypath.yaml")
    assert not c.enabled("graphql") and not c.has(Key.GRAPHQL_OPERATIONS_TOTAL)
    assert "GraphQL operations" not in overview_rows(root)
    assert "graphql_operation" not in "".join(p.read_text() for p in root.rglob("*") if p.is_file())
    assert run_cli("lint", "--root", str(root)).returncode == 0


def test_the_feature_without_operations_or_a_bad_name_is_one_line(tmp_path):
    for args, words in ((("--features", "graphql"), "--features graphql: give --operations"),
                        (("--operations", "Checkout-Create"), "not a GraphQL operation name")):
        result = run_cli("init", str(tmp_path / "x"), *BASE, *args)
        assert result.returncode == 2 and words in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "x").exists()
