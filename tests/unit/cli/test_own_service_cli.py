"""A team's own project, run the way the trial ran it: drills found from their own directory, the TODOs init left
counted by the lint, and the stack naming a --target that does not answer. On the ticket shop (komoju, knet)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from moneypath.catalog import find_catalog
from moneypath.check.todos import count_todos
from moneypath.stack import status
from tests.conftest import free_port, run_cli

SHOP = ("--service", "tickets", "--providers", "komoju,knet", "--currencies", "JPY,KWD",
        "--features", "cost,idempotency", "--methods", "card,konbini", "--routes", "/charges")


@pytest.fixture
def project(tmp_path) -> Path:
    """A repository with the project in ops/ (as the trial had it)."""
    (tmp_path / ".git").mkdir()
    result = run_cli("init", str(tmp_path / "ops"), *SHOP)
    assert result.returncode == 0, result.stderr
    return tmp_path / "ops"


# ---------------------------------------------------------------- finding the catalog


def test_the_nearest_catalog_above_a_file_is_found_and_the_search_stops_at_the_repository_root(project, tmp_path):
    drills = project / "runbooks" / "drills"
    assert find_catalog(drills) == project / "moneypath.yaml"
    (tmp_path / "moneypath.yaml").write_text("not looked at: ops/ has its own\n")
    assert find_catalog(drills) == project / "moneypath.yaml"
    (tmp_path / "elsewhere").mkdir()
    assert find_catalog(tmp_path / "elsewhere") == tmp_path / "moneypath.yaml"
    (tmp_path / "elsewhere" / ".git").mkdir()  # a repository of its own: nothing above it is its catalog
    assert find_catalog(tmp_path / "elsewhere") is None


def test_drill_check_finds_the_projects_catalog_from_the_drill_files(project, tmp_path):
    drills = sorted(str(p.relative_to(tmp_path)) for p in (project / "runbooks" / "drills").glob("*.yaml"))
    result = run_cli("drill", "check", *drills, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(drills)
    assert all(": OK — rehearses Tickets" in line for line in result.stdout.splitlines())


def test_a_command_run_below_the_project_finds_its_catalog(project):
    result = run_cli("catalog", "check", cwd=project / "runbooks")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{project / 'moneypath.yaml'}: OK — ")


def test_no_catalog_anywhere_says_where_it_looked_and_what_to_give(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "drills").mkdir()
    drill = tmp_path / "drills" / "x.yaml"
    drill.write_text("name: x\n")
    result = run_cli("drill", "check", str(drill), cwd=tmp_path)
    assert result.returncode == 3
    assert result.stderr == (f"moneypath.yaml: file not found in {tmp_path / 'drills'} or any directory above it (up "
                             "to the repository root); give --catalog PATH or set MONEYPATH_CATALOG\n")


def test_a_project_root_keeps_its_own_catalog(project, tmp_path):
    """lint and build read the catalog in --root (or ./moneypath.yaml), never one above it."""
    result = run_cli("lint", cwd=project / "runbooks")
    assert result.returncode == 3 and result.stderr == "moneypath.yaml: file not found\n"


# ---------------------------------------------------------------- TODOs init left


def test_lint_counts_the_todos_init_left_one_line_per_file_without_failing(project):
    todos = count_todos(project)
    assert {"moneypath.yaml", "runbooks/drills/requests/tickets.yaml", "loadtests/locustfile.py",
            "runbooks/ticketsproviderpartialoutage.md"} <= set(todos)
    result = run_cli("lint", "--root", str(project))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for rel, n in todos.items():
        assert f"{rel}: {n} TODO{'s' if n > 1 else ''} left from moneypath init" in lines
    assert lines[-1] == (f"lint: no problems ({sum(todos.values())} TODOs in {len(todos)} files still yours to fill "
                         "in; they do not fail the lint)")
    # filled in: the line goes away
    page = project / "runbooks" / "ticketsproviderpartialoutage.md"
    page.write_text(page.read_text().replace("TODO", "Done"))
    assert "runbooks/ticketsproviderpartialoutage.md" not in count_todos(project)


# ---------------------------------------------------------------- targets that do not answer


def test_a_closed_port_is_named_as_not_answering():
    port = free_port()
    assert status.unanswered_targets([f"127.0.0.1:{port}"], wait_s=0.3) == [(f"127.0.0.1:{port}", "connection refused")]


def test_a_target_without_metrics_is_named_and_one_that_answers_is_not(monkeypatch):
    def get(url, timeout):
        status = 404 if "127.0.0.1:1001" in url else 200
        return httpx.Response(status, request=httpx.Request("GET", url))

    monkeypatch.setattr(status.httpx, "get", get)
    assert status.unanswered_targets(["127.0.0.1:1001", "127.0.0.1:1002"], wait_s=0.3) == [
        ("127.0.0.1:1001", "/metrics answered HTTP 404")]


def test_status_names_the_targets_that_are_down(monkeypatch):
    class Prom:
        def __init__(self, url, timeout_s):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def targets(self):
            return [{"health": "up", "labels": {"instance": "127.0.0.1:8000"}},
                    {"health": "down", "labels": {"instance": "127.0.0.1:9"},
                     "lastError": 'Get "http://127.0.0.1:9/metrics": dial tcp 127.0.0.1:9: connect: connection refused'}]

    monkeypatch.setattr(status, "Prometheus", Prom)
    assert status._targets_summary("http://127.0.0.1:1") == ", targets up 1/2; down: 127.0.0.1:9 (connection refused)"


def test_drill_check_names_a_regex_alternative_the_catalog_does_not_declare(project, tmp_path):
    drill = project / "runbooks" / "drills" / "ticketsproviderpartialoutage.yaml"
    drill.write_text(drill.read_text().replace("\ndiagnosis:\n", """
steady_state:
  - name: provider calls succeed
    promql: sum(rate(tickets_provider_requests_total{outcome=~"error|timout"}[1m]))
    expect: {below: 0.02}
diagnosis:
""", 1))
    result = run_cli("drill", "check", str(drill.relative_to(tmp_path)), cwd=tmp_path)
    assert result.returncode == 2
    line = next(i for i, text in enumerate(drill.read_text().splitlines(), 1) if "timout" in text)
    assert result.stderr == (f"runbooks/drills/ticketsproviderpartialoutage.yaml:{line}: steady_state.0.promql: "
                             "tickets_provider_requests_total: outcome=~\"error|timout\": 'timout' is not a declared "
                             "value of outcome; did you mean timeout?\n")
