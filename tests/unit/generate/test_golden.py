"""The golden files: every artifact `moneypath build` writes for the shipped catalog is committed, and the
committed bytes are exactly what the generators produce now (the one byte-for-byte check; refactors keep
them identical, and a change to a generator shows up here as a diff to review and commit)."""

from __future__ import annotations

from moneypath.generate import build
from tests.conftest import ROOT


def test_every_committed_artifact_is_what_build_generates_byte_for_byte(catalog):
    files = build.artifacts(catalog)
    assert {"alerts/moneypath-alerts.yaml", "alerts/alertmanager.yml", "collector/recording-rules.yaml",
            "collector/prometheus.yml", "dashboards/moneypath-overview.json"} <= set(files)
    assert build.artifacts(catalog) == files  # deterministic
    stale = [rel for rel, text in files.items() if (ROOT / rel).read_bytes() != text.encode("utf-8")]
    assert stale == [], f"stale: {stale} — run `moneypath build` and review the diff"
    assert build.stale(catalog, ROOT) == []
