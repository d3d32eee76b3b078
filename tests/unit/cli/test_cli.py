"""The command line: clear one-line errors, non-zero exits, help on every command."""

from __future__ import annotations

import json

import pytest

from moneypath.catalog.load import load_catalog
from tests.conftest import CATALOG_PATH, ROOT, run_cli


def run(*args, cwd=ROOT):
    return run_cli(*args, cwd=cwd)


def test_check_passes_on_the_repository_catalog():
    result = run("catalog", "check")
    assert result.returncode == 0, result.stderr
    signals = len(load_catalog(CATALOG_PATH).signals)
    assert result.stdout.startswith(f"moneypath.yaml: OK — {signals} signals")


def test_check_reports_each_problem_on_one_line_without_a_traceback(tmp_path):
    bad = tmp_path / "moneypath.yaml"
    bad.write_text(CATALOG_PATH.read_text()
                   .replace("    type: histogram\n    unit: ratio", "    type: histogram\n    unit: percent")
                   .replace("page: payments-oncall\n", "page: nobody\n"))
    result = run("catalog", "check", "--catalog", str(bad))
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert all(line.startswith(f"{bad}:") for line in lines)
    assert "signals.fraud_score_ratio.unit: use a base unit" in lines[0]
    assert "routes.page: receiver 'nobody' is not declared in receivers" in lines[1]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_missing_catalog_is_one_line(tmp_path):
    result = run("catalog", "show", "--catalog", str(tmp_path / "none.yaml"))
    assert result.returncode == 3
    assert result.stderr.strip() == f"{tmp_path / 'none.yaml'}: file not found"


def test_show_prints_tables_and_json():
    table = run("catalog", "show")
    assert table.returncode == 0
    assert "moneypath_authorization_duration_seconds" in table.stdout
    assert "MoneyPathLedgerImbalance" in table.stdout
    data = json.loads(run("catalog", "show", "--json").stdout)
    assert data["signals"]["authorizations_total"]["labels"]["provider"] == ["acme", "globex"]
    assert data["alerts"]["LedgerImbalance"]["for"] == "0s"


def test_show_on_a_foreign_catalog_with_its_own_alert_expression():
    """An alert written as the team's own PromQL has no threshold: its row says so (it made show fail)."""
    table = run("catalog", "show", "--catalog", str(ROOT / "tests" / "foreign" / "moneypath.yaml"))
    assert table.returncode == 0, table.stderr
    (row,) = [line for line in table.stdout.splitlines() if "ShopKonbiniApprovalsLow" in line]
    assert "own expr" in row


@pytest.mark.parametrize("argv", [[], ["catalog"], ["metrics"], ["catalog", "frobnicate"]])
def test_usage_errors_exit_2_with_usage(argv):
    result = run(*argv)
    assert result.returncode == 2
    assert "usage: moneypath" in result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["catalog", "--help"], ["catalog", "check", "--help"],
                                  ["catalog", "show", "--help"], ["metrics", "sample", "--help"],
                                  ["build", "--help"], ["lint", "--help"], ["up", "--help"], ["down", "--help"],
                                  ["status", "--help"], ["pager", "--help"], ["demo", "--help"],
                                  ["dashboards", "--help"], ["dashboards", "push", "--help"], ["snapshot", "--help"]])
def test_help_on_every_command(argv):
    result = run(*argv)
    assert result.returncode == 0 and "usage: moneypath" in result.stdout


def test_metrics_sample_rejects_zero_payments():
    result = run("metrics", "sample", "--payments", "0")
    assert result.returncode == 2
    assert result.stderr.strip() == "moneypath: --payments must be at least 1"


def test_lint_lists_each_problem_and_exits_1(tmp_path):
    result = run("lint")
    # Every alert has its runbook page: the repository lints clean.
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "lint: no problems", result.stderr
    short = run("lint", "--retention", "2d")
    assert short.returncode == 1
    assert "MoneyPathCostPerTransactionRegression: range [7d] exceeds retention 2d" in short.stderr


@pytest.mark.parametrize(("retention", "what"), [("forever", "not a Prometheus duration: 'forever'"),
                                                 ("0d", "'0d' must be longer than 0")])
def test_lint_with_a_retention_that_is_not_a_duration_is_a_usage_error(retention, what):
    result = run("lint", "--retention", retention)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"moneypath: --retention: {what} (e.g. 15d, 31d, 1y)\n"


def test_stack_retention_covers_the_longest_window(catalog):
    from moneypath.generate.prometheus_config import retention

    assert retention(catalog) == "31d"  # 30d SLO window + a day


@pytest.mark.parametrize(("argv", "extra", "absent"), [
    (["loadtest", "checkout"], "loadtest", "locust"),
    (["build", "--check"], "tools", "grafana_foundation_sdk"),
    (["up"], "reference", "fastapi"),
])
def test_a_command_whose_extra_is_missing_says_so_in_one_line(argv, extra, absent, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == absent else real(name, *a))
    result = run(*argv)
    assert result.returncode == 2
    assert result.stderr == (f"moneypath {argv[0]} needs moneypath[{extra}]: pip install 'moneypath[{extra}]' "
                             f"({absent} is not installed)\n")
    assert result.stdout == ""


def test_catalog_check_needs_no_extra(monkeypatch):
    """The core distribution (library + catalog) can check a catalog: no extra's module is looked up."""
    import importlib.util

    from moneypath.cli import extras

    looked_up = []
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: looked_up.append(name) or real(name, *a))
    assert run("catalog", "check").returncode == 0
    assert not set(looked_up) & {m for modules in extras.MODULES.values() for m in modules}


def test_a_missing_module_no_extra_installs_is_one_line_exit_1(monkeypatch):
    """e.g. a database driver a --db-url names: not ours to install, still no traceback."""
    from moneypath.cli import lint

    def missing(args):
        raise ModuleNotFoundError("No module named 'psycopg2'", name="psycopg2")

    monkeypatch.setattr(lint, "_lint", missing)
    result = run("lint")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "moneypath: ModuleNotFoundError: No module named 'psycopg2'\n"


def test_the_opentelemetry_api_is_core_and_the_sdk_is_the_otel_extra():
    from moneypath.cli.extras import extra_of

    assert extra_of("opentelemetry.trace") is None
    assert extra_of("opentelemetry.sdk.trace") == "otel"
    assert extra_of("opentelemetry.exporter.otlp.proto.http") == "otel"
    assert extra_of("locust.env") == "loadtest"


def test_snapshot_reads_prometheus_from_the_stack_in_state_dir(tmp_path):
    import json

    from moneypath.cli.snapshot import running_prometheus

    assert running_prometheus(tmp_path) == ("http://127.0.0.1:9090", 1.0)  # no stack: the usual default
    (tmp_path / "stack.json").write_text(json.dumps({
        "state_dir": str(tmp_path), "scrape_interval": "1s", "evaluation_interval": "1s", "targets": [],
        "parts": [{"name": "prometheus", "url": "http://127.0.0.1:41234", "pid": 1, "health_path": "/-/ready",
                   "log": "p.log"}], "time_factor": 60}))
    assert running_prometheus(tmp_path) == ("http://127.0.0.1:41234", 60)  # and how compressed its rules are


def test_up_refuses_a_stack_shape_it_cannot_run(tmp_path):
    from moneypath.stack import local as stack

    catalog = load_catalog(str(ROOT / "moneypath.yaml"))
    with pytest.raises(stack.StackError, match="--ha runs a Prometheus pair"):
        stack.up(catalog, tmp_path, stack.StackSpec(ha=True, engine="vm"))
    with pytest.raises(stack.StackError, match="unknown engine 'thanos'"):
        stack.up(catalog, tmp_path, stack.StackSpec(engine="thanos"))
    assert not (tmp_path / "stack.json").exists()  # refused before anything started


def test_a_drill_on_a_given_target_refuses_a_stack_shape(monkeypatch):
    drill = str(ROOT / "runbooks" / "drills" / "duplicate-charge.yaml")
    monkeypatch.setenv("MONEYPATH_ENGINE", "vm")  # the stack's shape: the environment or moneypath.run.yaml
    result = run_cli("drill", "run", drill, "--target-service", "http://127.0.0.1:9",
                     "--target-prometheus", "http://127.0.0.1:9", "--target-pager", "http://127.0.0.1:9")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "engine, ha, instances and postgres (the run config's stack: section" in result.stderr
    assert "shape the stack a drill starts" in result.stderr
