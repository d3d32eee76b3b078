"""bench_flask compares like with like: its hand-written pair and the extension answer the benchmark's request
(a 404 would time Flask's error path instead) and record it as the same sample."""

from __future__ import annotations

from benchmarks import bench_flask

from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import Key
from tests.unit.instrument.frameworks.conftest import write_catalog


def test_the_pair_and_the_extension_record_the_benchmarks_request_alike(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    catalog = load_catalog(write_catalog(tmp_path))
    labels = {"route": bench_flask.ROUTE, "method": "GET", "status_class": "2xx"}
    for app, registry in (bench_flask.with_pair(catalog), bench_flask.with_extension(catalog)):
        assert bench_flask.per_request_us(app, 3) > 0
        assert registry.get_sample_value(catalog.metric(Key.HTTP_REQUESTS_TOTAL), labels) == 3
        assert registry.get_sample_value(catalog.metric(Key.HTTP_REQUEST_DURATION_SECONDS) + "_count",
                                         {"route": bench_flask.ROUTE, "method": "GET"}) == 3
