"""The load-test integration tests' catalog: the shipped one with a latency SLO threshold of 1 s instead of 300 ms
(see test_session.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CATALOG_PATH
from tests.integration.loadtest.helpers import LATENCY_SLO, THRESHOLD_MS


@pytest.fixture(scope="module")
def gate_catalog(tmp_path_factory) -> Path:
    text = CATALOG_PATH.read_text()
    assert LATENCY_SLO in text, "the catalog's latency SLO changed: update this test"
    path = tmp_path_factory.mktemp("catalog") / "moneypath.yaml"
    path.write_text(text.replace(LATENCY_SLO, LATENCY_SLO.replace("0.3", str(THRESHOLD_MS / 1000))))
    return path
