"""The library's exposition passes Prometheus' own linter."""

from __future__ import annotations

import shutil
import subprocess
import sys

from tests.conftest import ROOT


def test_promtool_check_metrics_accepts_the_exposition():
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: `make test` installs the Debian package prometheus"
    sample = subprocess.run([sys.executable, "-m", "moneypath", "metrics", "sample", "--format", "text"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True).stdout
    assert "moneypath_authorization_duration_seconds_bucket" in sample
    result = subprocess.run([promtool, "check", "metrics"], input=sample, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == result.stderr.strip() == ""  # no lint findings either


def test_the_repository_lints_clean_with_the_real_promtool(catalog):
    """The unit tier stubs promtool; here every rule file, runbook query and drill query is parsed for real."""
    from moneypath.check.lint import lint
    from moneypath.generate.prometheus_config import retention

    assert lint(catalog, ROOT, retention(catalog)) == []
