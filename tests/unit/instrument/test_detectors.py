"""`record_detector_run`: a detector's completed run on the catalog's heartbeat, a no-op where the catalog has no
heartbeat or the detector's feature is off, an undeclared name counted like any undeclared label value, and in
multiprocess mode the latest run of a live worker (a dead worker's run vouches for nothing)."""

from __future__ import annotations

import os

import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from moneypath.catalog import parse_catalog
from moneypath.catalog.conventions import Detector, Key
from moneypath.instrument import MoneyPath
from tests.conftest import CATALOG_PATH
from tests.docs_examples import code_block
from tests.support.feature_catalogs import without

HEARTBEAT = Key.DETECTOR_LAST_RUN_TIMESTAMP_SECONDS


def _value(registry: CollectorRegistry, name: str, **labels) -> float | None:
    return registry.get_sample_value(name, labels)


def _errors(registry: CollectorRegistry, name: str) -> float:
    """The instrumentation errors counted, whatever their reason."""
    return sum(s.value for m in registry.collect() for s in m.samples if s.name == name)


def test_a_run_sets_the_detectors_heartbeat_to_its_time(catalog):
    registry = CollectorRegistry()
    mp = MoneyPath.from_catalog(CATALOG_PATH, registry=registry)
    exec(code_block("docs/instrumenting.md", "Detectors"), {"mp": mp})  # the page's call: duplicates, now
    name = catalog.metric(HEARTBEAT)
    assert _value(registry, name, detector="duplicates") > 1_700_000_000
    mp.record_detector_run(Detector.DUPLICATES, at=1_800_000_000.0)
    mp.record_detector_run(Detector.RECONCILIATION)
    assert _value(registry, name, detector="duplicates") == 1_800_000_000.0
    assert _value(registry, name, detector="reconciliation") > 1_700_000_000  # now
    assert _value(registry, name, detector="ledger_balance") is None  # a detector that never ran has no series
    errors = catalog.metric(Key.INSTRUMENTATION_ERRORS_TOTAL)
    mp.record_detector_run("duplicate")  # a typo: recorded as other, counted, never raised
    assert _value(registry, name, detector="other") is not None and _errors(registry, errors) == 1


def test_without_a_heartbeat_or_with_the_feature_off_a_run_records_nothing(tmp_path):
    data = yaml.safe_load(CATALOG_PATH.read_text())
    del data["signals"][HEARTBEAT]
    del data["signals"][Key.DUPLICATE_CHARGES_TOTAL]["detector"]  # a detector: the heartbeat must declare it
    registry = CollectorRegistry()
    mp = MoneyPath(parse_catalog(yaml.safe_dump(data)), _backend(registry))
    mp.record_detector_run(Detector.DUPLICATES)
    assert not [m for m in registry.collect() if "detector" in m.name]
    off = without("reconciliation")
    registry = CollectorRegistry()
    mp = MoneyPath(off, _backend(registry))
    mp.record_detector_run(Detector.RECONCILIATION)
    mp.record_detector_run(Detector.DUPLICATES)
    name = off.metric(HEARTBEAT)
    assert _value(registry, name, detector="reconciliation") is None
    assert _value(registry, name, detector="duplicates") is not None
    assert _errors(registry, off.metric(Key.INSTRUMENTATION_ERRORS_TOTAL)) == 0


def _backend(registry):
    from moneypath.instrument._prometheus_backend import PrometheusBackend

    return PrometheusBackend(registry=registry)


def test_in_multiprocess_mode_the_heartbeat_is_the_latest_run_across_live_workers(tmp_path):
    """The heartbeat's gauge is livemax: each worker writes its runs to its own file (prometheus-client removes a
    dead worker's), and a scrape shows the latest of them."""
    catalog = parse_catalog(CATALOG_PATH.read_text())
    registry = CollectorRegistry()
    MoneyPath(catalog, _backend(registry))
    name = catalog.metric(HEARTBEAT)
    assert registry._names_to_collectors[name]._multiprocess_mode == "livemax"
    for worker, ran_at in ((1, 150.0), (2, 200.0)):
        store = MmapedDict(os.path.join(tmp_path, f"gauge_livemax_{worker}.db"))
        store.write_value(mmap_key(name, name, ["detector"], ["duplicates"], "h"), ran_at, 0)
        store.close()
    values = {s.labels.get("detector"): s.value for m in MultiProcessCollector(None, path=str(tmp_path)).collect()
              for s in m.samples if s.name == name}
    assert values == {"duplicates": 200.0}
