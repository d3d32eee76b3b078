"""The multi-process directory's compaction, in one process: files of dead processes (named with a start time
that no live process has) are folded into archives; sums never change, live gauges vanish, nothing counts
twice, a crash halfway rolls forward, and an earlier run's files never count."""

from __future__ import annotations

import json
import os
import threading

from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from moneypath.instrument import _multiproc as multiproc

ME = multiproc.current_ident()
PID = os.getpid()


def dead(n: int) -> str:
    """My PID with another start time: a process that had my PID and is gone (PID reuse)."""
    return f"{PID}-{n}"


def write(path, prefix: str, ident: str, values: list[tuple], stamp: float = 0.0) -> None:
    """`values`: (metric, sample, labels, value) each."""
    store = MmapedDict(os.path.join(path, f"{prefix}_{ident}.db"))
    for metric, sample, labels, value in values:
        store.write_value(mmap_key(metric, sample, list(labels), list(labels.values()), "help"), value, stamp)
    store.close()


def totals(path) -> dict[tuple, float]:
    registry_free = multiproc.collector(str(path))
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in registry_free.collect() for s in m.samples}


def raw_totals(path) -> dict[tuple, float]:
    """What prometheus-client's own collector reads from the directory (no compaction)."""
    merged = MultiProcessCollector(None, path=str(path)).collect()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for m in merged for s in m.samples}


def db_files(path) -> set[str]:
    return {n for n in os.listdir(path) if n.endswith(".db")}


CALLS = ("shop_calls_total", (("provider", "komoju"),))


def calls(n: float) -> list:
    return [("shop_calls", "shop_calls_total", {"provider": "komoju"}, n)]


def test_dead_counters_fold_into_one_archive_and_the_sum_never_changes(tmp_path):
    write(tmp_path, "counter", ME, calls(5))
    write(tmp_path, "counter", dead(1), calls(7))
    write(tmp_path, "counter", dead(2), calls(11))
    assert totals(tmp_path)[CALLS] == 23
    assert db_files(tmp_path) == {"counter_archive.db", f"counter_{ME}.db"}
    write(tmp_path, "counter", dead(3), calls(2))  # another recycle: folded into the same archive
    assert totals(tmp_path)[CALLS] == 25
    assert totals(tmp_path)[CALLS] == 25  # nothing counted twice on the next scrape
    assert db_files(tmp_path) == {"counter_archive.db", f"counter_{ME}.db"}


def test_histograms_fold_bucket_by_bucket(tmp_path):
    def observed(le_01: float, le_inf: float, total: float) -> list:
        labels = {"provider": "knet"}
        return [("shop_seconds", "shop_seconds_bucket", {**labels, "le": "0.1"}, le_01),
                ("shop_seconds", "shop_seconds_bucket", {**labels, "le": "+Inf"}, le_inf),
                ("shop_seconds", "shop_seconds_sum", labels, total)]

    write(tmp_path, "histogram", dead(1), observed(2, 1, 0.9))
    write(tmp_path, "histogram", dead(2), observed(3, 0, 0.2))
    before = raw_totals(tmp_path)
    assert totals(tmp_path) == before
    assert before[("shop_seconds_bucket", (("le", "0.1"), ("provider", "knet")))] == 5
    assert db_files(tmp_path) == {"histogram_archive.db"}


def test_a_dead_workers_live_gauges_vanish_and_folded_gauges_keep_their_mode(tmp_path):
    def circuit(state: int) -> list:
        return [("shop_circuit", "shop_circuit", {"provider": "komoju"}, state)]

    write(tmp_path, "gauge_livemax", dead(1), circuit(2))
    write(tmp_path, "gauge_livemax", ME, circuit(0))
    write(tmp_path, "gauge_max", dead(1), [("shop_peak", "shop_peak", {}, 9)])
    write(tmp_path, "gauge_max", dead(2), [("shop_peak", "shop_peak", {}, 4)])
    got = totals(tmp_path)
    assert got[("shop_circuit", (("provider", "komoju"),))] == 0  # the open circuit was the dead worker's
    assert got[("shop_peak", ())] == 9
    assert db_files(tmp_path) == {"gauge_max_archive.db", f"gauge_livemax_{ME}.db"}


def test_a_compaction_cut_short_rolls_forward_without_counting_twice(tmp_path):
    write(tmp_path, "counter", dead(1), calls(7))
    write(tmp_path, "counter", "archive", calls(3))
    # the crash came after the new archive and the journal were written, before the folded file was deleted
    os.rename(tmp_path / "counter_archive.db", tmp_path / "old")
    write(tmp_path, "counter", "archive", calls(10))
    os.rename(tmp_path / "counter_archive.db", tmp_path / "counter_archive.db.new")
    os.rename(tmp_path / "old", tmp_path / "counter_archive.db")
    (tmp_path / multiproc.JOURNAL_NAME).write_text(json.dumps({"archives": ["counter_archive.db"],
                                                               "remove": [f"counter_{dead(1)}.db"]}))
    assert totals(tmp_path)[CALLS] == 10
    assert db_files(tmp_path) == {"counter_archive.db"}


def test_half_written_archives_without_a_journal_are_dropped(tmp_path):
    write(tmp_path, "counter", dead(1), calls(7))
    write(tmp_path, "counter", "archive", calls(99))
    os.rename(tmp_path / "counter_archive.db", tmp_path / "counter_archive.db.new")
    assert totals(tmp_path)[CALLS] == 7
    assert db_files(tmp_path) == {"counter_archive.db"}


def test_an_earlier_runs_files_never_count(tmp_path):
    (tmp_path / multiproc.RUN_NAME).write_text(dead(1))  # its process manager is gone
    write(tmp_path, "counter", dead(2), calls(7))
    write(tmp_path, "counter", "archive", calls(3))
    write(tmp_path, "counter", ME, calls(1))
    multiproc.join_run(str(tmp_path))
    assert totals(tmp_path)[CALLS] == 1
    assert (tmp_path / multiproc.RUN_NAME).read_text() == f"{ME} itself"  # nothing supervises this process


def test_a_live_run_is_joined_as_it_is(tmp_path):
    multiproc.start_run(str(tmp_path))
    assert (tmp_path / multiproc.RUN_NAME).read_text() == f"{ME} prepared"
    write(tmp_path, "counter", "archive", calls(3))
    multiproc.join_run(str(tmp_path))
    assert totals(tmp_path)[CALLS] == 3


PARENT = multiproc.ident_of(os.getppid())


def test_a_restarted_single_process_never_counts_the_killed_ones_files_whatever_its_parent(tmp_path):
    # The killed process's run was anchored on the parent both share (a shell, systemd, a test runner: alive), the
    # way a supervisor's is; that parent supervises neither, so this process starts a run of its own.
    for how in ("supervisor", ""):
        (tmp_path / multiproc.RUN_NAME).write_text(f"{PARENT} {how}".strip())
        write(tmp_path, "counter", dead(2), calls(8))
        write(tmp_path, "counter", "archive", calls(3))
        multiproc.join_run(str(tmp_path))
        assert CALLS not in totals(tmp_path)
        assert (tmp_path / multiproc.RUN_NAME).read_text() == f"{ME} itself"
        write(tmp_path, "counter", ME, calls(2))
        assert totals(tmp_path)[CALLS] == 2
        os.remove(tmp_path / f"counter_{ME}.db")


def test_a_supervised_worker_joins_its_supervisors_run_and_a_recycled_siblings_counts_stay(tmp_path, monkeypatch):
    monkeypatch.setattr(multiproc, "supervised", lambda: True)
    multiproc.join_run(str(tmp_path))
    assert (tmp_path / multiproc.RUN_NAME).read_text() == f"{PARENT} supervisor"
    write(tmp_path, "counter", dead(2), calls(8))  # a sibling recycled within the run
    multiproc.join_run(str(tmp_path))
    assert totals(tmp_path)[CALLS] == 8


def test_a_run_anchored_on_a_live_process_that_is_not_this_ones_is_not_joined(tmp_path, monkeypatch):
    monkeypatch.setattr(multiproc, "supervised", lambda: False)
    (tmp_path / multiproc.RUN_NAME).write_text(f"{PARENT} itself")  # another single-process server's run
    write(tmp_path, "counter", dead(2), calls(8))
    multiproc.join_run(str(tmp_path))
    assert CALLS not in totals(tmp_path) and (tmp_path / multiproc.RUN_NAME).read_text() == f"{ME} itself"


def test_a_prepared_run_is_joined_by_any_process(tmp_path, monkeypatch):
    monkeypatch.setattr(multiproc, "supervised", lambda: False)  # e.g. a Celery child: no listening socket
    (tmp_path / multiproc.RUN_NAME).write_text(f"{PARENT} prepared")
    write(tmp_path, "counter", dead(2), calls(8))
    multiproc.join_run(str(tmp_path))
    assert totals(tmp_path)[CALLS] == 8


def test_a_process_is_supervised_only_by_a_parent_sharing_its_listener(monkeypatch):
    import multiprocessing

    from moneypath.instrument import _procfs

    monkeypatch.setattr(multiprocessing, "parent_process", lambda: None)
    monkeypatch.setattr(_procfs, "holds_my_listener", lambda pid: pid == os.getppid())
    assert multiproc.supervised()
    monkeypatch.setattr(_procfs, "holds_my_listener", lambda pid: False)
    assert not multiproc.supervised()


def test_recording_takes_no_lock(tmp_path, monkeypatch):
    from prometheus_client import values

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    value = values.MultiProcessValue(process_identifier=multiproc.current_ident)(
        "counter", "shop_calls", "shop_calls_total", ("provider",), ("komoju",), "help")
    done = threading.Event()
    with multiproc.locked(str(tmp_path), exclusive=True):  # a compaction in progress
        threading.Thread(target=lambda: (value.inc(1), done.set()), daemon=True).start()
        assert done.wait(5), "a write waited for the directory's lock"
    assert db_files(tmp_path) == {f"counter_{ME}.db"}


def test_identifiers_carry_the_start_time_and_only_live_ones_are_alive():
    assert ME.startswith(f"{PID}-") and multiproc.alive(ME)
    assert not multiproc.alive(dead(1))
    assert multiproc.alive(str(PID)) and not multiproc.alive("999999999")
