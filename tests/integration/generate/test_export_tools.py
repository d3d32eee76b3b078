"""The rules inside every export pass the platforms' own checkers: `promtool check rules` on the PrometheusRule's,
the Mimir namespace file's and the vmalert files' groups, and the real `vmalert -dryRun` (Debian
victoria-metrics) on the vmalert files; on the reference catalog and the foreign one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from moneypath.generate import export

TIMEOUT_S = 60


@pytest.fixture(params=["catalog", "foreign"])
def any_catalog(request):
    return request.getfixturevalue(request.param)


def _tool(name: str) -> str:
    path = shutil.which(name)
    package = "prometheus" if name == "promtool" else "victoria-metrics"
    assert path, f"{name} missing: scripts/setup.sh installs it (Debian {package})"
    return path


def promtool_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def groups_file(tmp_path: Path, name: str, groups: list[dict]) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def test_promtool_accepts_the_rules_of_every_platform(any_catalog, tmp_path):
    kube = export.files(any_catalog, "kube")
    (rule,) = yaml.safe_load_all(kube["prometheusrule.yaml"])
    (mimir,) = export.files(any_catalog, "mimir").values()
    namespace_file = yaml.safe_load(mimir)
    assert set(namespace_file) == {"namespace", "groups"}  # the rest is Prometheus' format exactly
    vm = export.files(any_catalog, "vm")
    (vmrule,) = yaml.safe_load_all(vm["vmrule.yaml"])
    checked = [groups_file(tmp_path, "kube.yaml", rule["spec"]["groups"]),
               groups_file(tmp_path, "mimir.yaml", namespace_file["groups"]),
               groups_file(tmp_path, "vmrule.yaml", vmrule["spec"]["groups"])]
    for rel in ("rules/recording-rules.yaml", "rules/alerts.yaml"):
        path = tmp_path / Path(rel).name
        path.write_text(vm[rel])
        checked.append(path)
    for path in checked:
        result = promtool_check(path)
        assert result.returncode == 0, f"{path.name}: {result.stdout}{result.stderr}"
        assert "SUCCESS" in result.stdout


def test_promtool_refuses_a_broken_rule_so_the_check_above_can_fail(tmp_path):
    result = promtool_check(groups_file(tmp_path, "broken.yaml", [{"name": "g", "rules": [
        {"alert": "Broken", "expr": "sum(rate(x[5m])"}]}]))
    assert result.returncode != 0


def vmalert_dry_run(*rule_files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("vmalert"), "-dryRun", *(f"-rule={p}" for p in rule_files)], capture_output=True,
                          text=True, timeout=TIMEOUT_S, cwd=rule_files[0].parent)


def test_vmalert_dry_run_accepts_the_exported_rule_files(any_catalog, tmp_path):
    export.write(tmp_path, export.files(any_catalog, "vm"))
    result = vmalert_dry_run(tmp_path / "rules" / "recording-rules.yaml", tmp_path / "rules" / "alerts.yaml")
    assert result.returncode == 0, result.stderr[-2000:]


def test_vmalert_dry_run_refuses_a_broken_rule_so_the_check_above_can_fail(tmp_path):
    result = vmalert_dry_run(groups_file(tmp_path, "broken.yaml", [{"name": "g", "rules": [
        {"alert": "Broken", "expr": "sum(rate(x[5m])"}]}]))
    assert result.returncode != 0
    assert "broken.yaml" in result.stderr
