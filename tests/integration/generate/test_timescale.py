"""Time-compressed rules (moneypath.generate.compress) pass the real promtool (the rest:
tests/unit/generate/test_timescale.py)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from moneypath.generate.build import rules_yaml
from moneypath.generate.compress import compress_rules
from moneypath.generate.rules import alert_rules, recording_rules


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_compressed_rules_pass_promtool(catalog, tmp_path):
    for name, doc in (("alerts", alert_rules(catalog)), ("records", recording_rules(catalog))):
        path = tmp_path / f"{name}.yaml"
        path.write_text(rules_yaml(compress_rules(doc, 60)))
        result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert yaml.safe_load(path.read_text())["groups"]
