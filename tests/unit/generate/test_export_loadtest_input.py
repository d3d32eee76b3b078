"""`moneypath export loadtest`: bad input is one line naming the scenario file, the line and the key of its
kubernetes: block (or the option), exit 2, and nothing written."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.unit.generate.loadtest_projects import project

BLOCK = """
kubernetes:
  scenario: {scenario}
  workers: {workers}
  image: registry.example/payments:1
  target: {{service: "http://payments:8080"}}
{extra}"""


def _block(scenario="checkout", workers="2", extra="") -> str:
    return BLOCK.format(scenario=scenario, workers=workers, extra=extra)


def _line(text: str, key: str) -> int:
    """The line of `key` in the kubernetes: block (the last block of the file)."""
    lines = text.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("kubernetes:"))
    return next(i + 1 for i in range(start, len(lines)) if lines[i].lstrip().startswith(f"{key}:"))


def _export(tmp_path, block: str, *more: str):
    catalog, scenario_file = project(tmp_path, "reference", block)
    out = tmp_path / "out"
    done = run_cli("--catalog", str(catalog), "export", "loadtest", str(scenario_file), "--out", str(out), *more)
    assert not out.exists()  # nothing written
    return done, scenario_file, scenario_file.read_text()


@pytest.mark.parametrize(("block", "key", "says"), [
    (_block(workers="0"), "workers", "kubernetes.workers: Input should be greater than or equal to 1"),
    (_block(scenario="chekout"), "scenario", "kubernetes.scenario: 'chekout' is not a scenario of this file "
                                             "(checkout, peak, spike, soak, overload, retry_storm, slow_provider, "
                                             "healthz)"),
    (_block(extra="  namespace: Load_Tests\n"), "namespace", "kubernetes.namespace: 'Load_Tests' is not a "
                                                            "Kubernetes namespace"),
    (_block(extra="  wrokers_resources: {}\n"), "wrokers_resources", "kubernetes.wrokers_resources: unknown key; did "
                                                                     "you mean worker_resources?"),
    # a misspelt required key: the typo is named first, not the right spelling as missing
    (_block(workers="2").replace("  workers: 2", "  wokers: 2"), "wokers",
     "kubernetes.wokers: unknown key; did you mean workers?"),
    (_block(extra="  worker_resources: {limits: {cpu: 1core}}\n"), "worker_resources",
     "kubernetes.worker_resources.limits: cpu: '1core' is not a quantity"),
    (_block(extra="  token_secret: Payments_Token\n"), "token_secret",
     "kubernetes.token_secret: 'Payments_Token' is not a Kubernetes object name"),
    (_block(extra="  locustfile: missing.py\n"), "locustfile", "kubernetes.locustfile: "),
    (_block(extra="  files: [../../outside.yaml]\n"), "files", "kubernetes.files.0: "),
    (_block(scenario="slow_provider"), "target", "kubernetes.target: scenario slow_provider sets faults at "
                                                 "providersim: give target.providersim (its URL)"),
])
def test_a_bad_block_is_one_line_naming_file_line_and_key(tmp_path, block, key, says):
    (tmp_path / "outside.yaml").write_text("x: 1\n")
    done, scenario_file, text = _export(tmp_path, block)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"moneypath export: {scenario_file}:{_line(text, key)}: {says}"), line


def test_what_the_files_say_when_missing_or_outside_the_project(tmp_path):
    (tmp_path / "outside.yaml").write_text("x: 1\n")
    done, scenario_file, _text = _export(tmp_path, _block(extra="  locustfile: missing.py\n"))
    assert done.stderr.rstrip().endswith(f"{scenario_file.parent / 'missing.py'}: no such file")
    done, _scenario_file, _text = _export(tmp_path / "b", _block(extra="  files: [../../outside.yaml]\n"))
    assert "is outside the project" in done.stderr and "the catalog's directory" in done.stderr
    catalog, scenario_file = project(tmp_path / "c", "reference", _block())
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(scenario_file.read_text())
    done = run_cli("--catalog", str(catalog), "export", "loadtest", str(elsewhere), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and done.stderr.startswith(f"moneypath export: the scenario file: {elsewhere} is "
                                                           "outside the project")


def test_no_block_and_export_options_are_refused_in_one_line(tmp_path):
    catalog, scenario_file = project(tmp_path, "reference", "\n")
    done = run_cli("--catalog", str(catalog), "export", "loadtest", str(scenario_file), "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert done.stderr == (f"moneypath export: {scenario_file}: no kubernetes: block: it holds the settings of "
                           "`export loadtest` (scenario, workers, image, target; docs/load-tests.md, On "
                           "Kubernetes)\n")
    done, _scenario_file, _text = _export(tmp_path / "b", _block(), "--namespace", "loadtest")
    assert done.returncode == 2 and done.stderr == ("moneypath export: --namespace: a load test's namespace is "
                                                    "kubernetes.namespace in its scenario file\n")
    done = run_cli("--catalog", str(catalog), "export", "kube", str(scenario_file), "--out", str(tmp_path / "k"))
    assert done.returncode == 2 and done.stderr == (f"moneypath export: {scenario_file}: only `export loadtest` "
                                                    "takes a file (its scenario file)\n")


def test_the_default_scenario_file_is_the_projects(tmp_path):
    catalog, _scenario_file = project(tmp_path, "reference", _block())
    done = run_cli("export", "loadtest", "--out", "deploy/lt", cwd=catalog.parent)
    assert done.returncode == 0, done.stderr
    assert (catalog.parent / "deploy" / "lt" / "master-job.yaml").is_file()


def test_lint_reports_the_blocks_problem_with_its_line(tmp_path):
    catalog, scenario_file = project(tmp_path, "reference", _block(workers="-1"))
    done = run_cli("lint", cwd=catalog.parent)
    assert f"loadtests/scenarios.yaml:{_line(scenario_file.read_text(), 'workers')}: kubernetes.workers: Input " \
           "should be greater than or equal to 1" in done.stdout + done.stderr
