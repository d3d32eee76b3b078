"""moneypath.instrument.testing: what moved between two reads of a MoneyPath's registry, by catalog key; a failed
assertion names what moved instead; the multi-process directory is read as /metrics serves it."""

from __future__ import annotations

import os

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from moneypath.catalog.conventions import Key
from moneypath.instrument import MoneyPath
from moneypath.instrument.testing import watch_signals
from tests.conftest import ROOT

SHOP = ROOT / "tests" / "foreign" / "moneypath.yaml"  # the ticket shop: komoju and knet, namespace shop


@pytest.fixture
def mp():
    return MoneyPath.from_catalog(SHOP)


def test_counters_histograms_and_gauges_move_by_count_observations_and_value(mp):
    mp.record_authorization("komoju", "card", "approved", 0.1)  # before the watch: not counted
    with watch_signals(mp) as signals:
        mp.record_authorization("komoju", "card", "approved", 0.25)
        mp.record_authorization("knet", "debit", "declined", 0.5)
        mp.set_ledger_imbalance("JPY", 300)
    signals.assert_moved(Key.AUTHORIZATIONS_TOTAL, 2)  # labels left out: summed over
    signals.assert_moved(Key.AUTHORIZATIONS_TOTAL, 1, provider="komoju", outcome="approved")
    signals.assert_moved(Key.AUTHORIZATION_DURATION_SECONDS, 1, provider="knet")
    signals.assert_moved(Key.AUTHORIZATION_DURATION_SECONDS, 0.75, observed=True)
    signals.assert_moved(Key.LEDGER_IMBALANCE_MINOR, 300, currency="JPY")
    signals.assert_unmoved(Key.AUTHORIZATIONS_TOTAL, outcome="timeout")
    assert signals.delta(Key.AUTHORIZATIONS_TOTAL, provider="knet") == 1
    mp.record_authorization("komoju", "card", "approved", 0.1)  # after the block: not counted either
    signals.assert_moved(Key.AUTHORIZATIONS_TOTAL, 2)


def test_a_failure_says_by_how_much_and_what_moved_instead(mp):
    with watch_signals(mp) as signals:
        mp.record_provider_call("komoju", "authorize", "timeout", 0.3)
    with pytest.raises(AssertionError) as failed:
        signals.assert_moved(Key.PROVIDER_REQUESTS_TOTAL, 1, provider="komoju", outcome="success")
    assert str(failed.value).splitlines() == [
        'shop_provider_requests_total{provider="komoju",outcome="success"} (provider_requests_total) moved by 0 '
        '(count), expected 1',
        "what moved:",
        '  shop_provider_requests_total{provider="komoju",operation="authorize",outcome="timeout"} +1',
        '  shop_provider_request_duration_seconds{provider="komoju",operation="authorize"} +1 observation']
    with pytest.raises(AssertionError, match=r"moved by 1 \(count\), expected 0"):
        signals.assert_unmoved(Key.PROVIDER_REQUESTS_TOTAL)


def test_an_undeclared_value_gets_a_note_and_nothing_moved_says_so(mp):
    signals = watch_signals(mp)
    with pytest.raises(AssertionError) as failed:
        signals.assert_moved(Key.AUTHORIZATIONS_TOTAL, 1, provider="stripe")
    assert str(failed.value).splitlines()[1:] == [
        "note: provider='stripe' is not a value the catalog declares (komoju, knet): the library records it as "
        "'other'", "nothing moved"]


def test_without_with_each_assertion_reads_the_registry_then(mp):
    signals = watch_signals(mp)
    mp.count_provider_retry("knet", "authorize")
    signals.assert_moved(Key.PROVIDER_RETRIES_TOTAL, 1, provider="knet")
    mp.count_provider_retry("knet", "authorize")
    signals.assert_moved(Key.PROVIDER_RETRIES_TOTAL, 2, provider="knet", operation="authorize")


def test_an_unknown_key_or_label_is_an_error_at_once(mp):
    signals = watch_signals(mp)
    with pytest.raises(KeyError, match="did you mean provider_requests_total"):
        signals.assert_moved("provider_request_total", 1)
    with pytest.raises(ValueError, match=r"no label provder \(its labels: provider, operation, outcome\)"):
        signals.assert_moved(Key.PROVIDER_REQUESTS_TOTAL, 1, provder="komoju")


def test_another_backend_is_refused_with_what_to_do():
    for backend, options in (("none", {}), ("otel", {"metric_readers": [InMemoryMetricReader()]})):
        mp = MoneyPath.from_catalog(SHOP, backend=backend, **options)
        with pytest.raises(TypeError, match=f"backend is '{backend}'.*backend='prometheus'"):
            watch_signals(mp)


def test_in_multiprocess_mode_every_processs_values_in_the_directory_count(mp, tmp_path, monkeypatch):
    """Another process's values: its file in the directory, with a start time no live process has (a recycled
    worker's, so the read folds it into the archive on the way and the sum holds)."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    name = mp.catalog.metric(Key.PROVIDER_REQUESTS_TOTAL)
    labels = {"provider": "knet", "operation": "authorize", "outcome": "success"}

    def worker_wrote(n: float) -> None:
        store = MmapedDict(os.path.join(tmp_path, f"counter_{os.getpid()}-{int(n)}.db"))
        store.write_value(mmap_key(name.removesuffix("_total"), name, list(labels), list(labels.values()), "h"), n, 0)
        store.close()

    worker_wrote(3)
    with watch_signals(mp) as signals:
        worker_wrote(4)
        worker_wrote(5)
    signals.assert_moved(Key.PROVIDER_REQUESTS_TOTAL, 9, provider="knet")
    assert signals.before.value(Key.PROVIDER_REQUESTS_TOTAL) == 3
