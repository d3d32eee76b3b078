"""The drill history's chain (moneypath.readiness.history): append and read, each way a record can be tampered with
caught at its seq, records created whole and exclusively, two processes appending at once."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest

from moneypath.readiness import history as h
from tests.support.drill_history import DAY, fields, history

T = 1_790_000_000.0


def _file(folder, seq):
    return folder / "records" / f"{seq:08d}.json"


def _rewrite(folder, number, **changes):
    """Edit a record's fields and store it canonically again (the careful attacker)."""
    record = json.loads(_file(folder, number).read_bytes())
    record.update(changes)
    _file(folder, number).write_bytes(h.canonical(record))


def test_append_assigns_seq_and_prev_and_read_gives_the_records_back(tmp_path):
    records = history(tmp_path, [T, T + DAY, T + 2 * DAY])
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev"] == h.GENESIS
    assert records[1]["prev"] == h.record_hash(_file(tmp_path, 1).read_bytes())
    assert records[2]["prev"] == h.record_hash(records[1])
    assert h.read(tmp_path) == records
    data = _file(tmp_path, 2).read_bytes()
    assert data == json.dumps(records[1], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert records[0]["recorded_at"].endswith("Z") and records[0]["schema"] == 1


def test_back_dated_records_are_kept_as_given_in_any_order_of_time(tmp_path):
    history(tmp_path, [T, T - 80 * DAY], recorded_at="2026-01-01T00:00:00Z")
    first, second = h.read(tmp_path)
    assert first["ended_at"] == h.rfc3339(T) and second["ended_at"] == h.rfc3339(T - 80 * DAY)
    assert second["recorded_at"] == "2026-01-01T00:00:00Z"
    assert h.parse_time(second["started_at"]) == T - 80 * DAY - 600


def test_no_history_yet_reads_as_no_records(tmp_path):
    assert h.read(tmp_path / "nothing") == []
    assert h.judge(0, False, None) == "not measured"


@pytest.mark.parametrize("change, message", [
    ({"kind": "rehearsal"}, "kind must be one of drill, tabletop, gameday"),
    ({"verdict": "ok"}, "verdict must be one of pass, fail, not measured"),
    ({"started_at": "yesterday"}, "started_at"),
    ({"ended_at": "2026-01-01T00:00:00"}, "has no offset"),
    ({"compression": 0}, "compression must be positive"),
    ({"environment": " "}, "environment is empty"),
    ({"alerts": [{"alert": "X"}]}, "alerts.0: no severity"),
    ({"roles": [{"role": "ops", "who": None, "asked_at": None, "answered_at": None, "late": "no"}]},
     "roles.0: late must be bool"),
    ({"compression": float("nan")}, "compression must be finite"),
])
def test_a_record_that_breaks_the_contract_is_refused_in_one_line_and_nothing_is_written(tmp_path, change, message):
    with pytest.raises(h.HistoryError, match=message) as caught:
        h.append(tmp_path, fields(**change))
    assert "\n" not in str(caught.value)
    assert not list((tmp_path / "records").glob("*.json"))


def test_a_missing_field_is_refused(tmp_path):
    record = fields()
    del record["journal_sha256"]
    with pytest.raises(h.HistoryError, match="no journal_sha256"):
        h.append(tmp_path, record)


# ---------------------------------------------------------------- tampering, caught at the first bad seq


def _broken(folder) -> h.HistoryError:
    with pytest.raises(h.HistoryError) as caught:
        h.read(folder)
    return caught.value


@pytest.mark.parametrize("seq", [1, 2, 4])
def test_an_edited_record_is_caught_at_its_seq(tmp_path, seq):
    history(tmp_path, [T + i * DAY for i in range(5)])
    _rewrite(tmp_path, seq, verdict="fail")
    error = _broken(tmp_path)
    assert (error.seq, error.problem) == (seq, "edited")
    assert str(error).startswith(f"history BROKEN at seq {seq}: edited")


def test_an_edited_record_whose_prev_was_fixed_up_too_is_caught_at_its_seq(tmp_path):
    history(tmp_path, [T + i * DAY for i in range(5)])
    _rewrite(tmp_path, 2, verdict="fail")
    _rewrite(tmp_path, 3, prev=h.record_hash(_file(tmp_path, 2).read_bytes()))
    error = _broken(tmp_path)
    assert (error.seq, error.problem) == (3, "edited")


def test_a_record_saved_again_pretty_printed_is_an_edit(tmp_path):
    history(tmp_path, [T, T + DAY])
    record = json.loads(_file(tmp_path, 2).read_bytes())
    _file(tmp_path, 2).write_text(json.dumps(record, indent=2, sort_keys=True))
    error = _broken(tmp_path)
    assert (error.seq, error.problem) == (2, "edited") and "not the canonical JSON" in str(error)


def test_records_swapped_are_reordered(tmp_path):
    history(tmp_path, [T + i * DAY for i in range(4)])
    a, b = _file(tmp_path, 2), _file(tmp_path, 3)
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    error = _broken(tmp_path)
    assert (error.seq, error.problem) == (2, "reordered")


def test_records_swapped_and_renumbered_to_match_their_names_are_caught_at_the_first(tmp_path):
    history(tmp_path, [T + i * DAY for i in range(4)])
    two, three = json.loads(_file(tmp_path, 2).read_bytes()), json.loads(_file(tmp_path, 3).read_bytes())
    _file(tmp_path, 2).write_bytes(h.canonical({**three, "seq": 2}))
    _file(tmp_path, 3).write_bytes(h.canonical({**two, "seq": 3}))
    error = _broken(tmp_path)
    assert (error.seq, error.problem) == (2, "edited")


def test_a_deleted_record_is_missing_at_its_seq(tmp_path):
    history(tmp_path, [T + i * DAY for i in range(5)])
    _file(tmp_path, 3).unlink()
    error = _broken(tmp_path)
    assert (error.seq, error.problem) == (3, "missing") and "00000004.json follows seq 2" in str(error)


def test_the_first_record_deleted_is_missing_at_seq_1(tmp_path):
    history(tmp_path, [T, T + DAY])
    _file(tmp_path, 1).unlink()
    assert (_broken(tmp_path).seq, _broken(tmp_path).problem) == (1, "missing")


def test_a_foreign_file_among_the_records_is_extra(tmp_path):
    history(tmp_path, [T])
    (tmp_path / "records" / "00000002.json.bak").write_text("{}")
    assert _broken(tmp_path).problem == "extra"


def test_a_record_inserted_and_the_rest_renumbered_breaks_the_chain(tmp_path):
    history(tmp_path, [T, T + DAY, T + 2 * DAY])
    for seq in (3, 2):
        _file(tmp_path, seq).rename(_file(tmp_path, seq + 1))
        _rewrite(tmp_path, seq + 1, seq=seq + 1)
    _file(tmp_path, 2).write_bytes(h.canonical({**fields(ended=T + DAY / 2), "seq": 2,
                                                "prev": h.record_hash(_file(tmp_path, 1).read_bytes())}))
    error = _broken(tmp_path)
    assert (error.seq, error.problem) == (2, "extra")  # seq 3's prev is the hash of seq 1
    assert "inserted" in str(error)


def test_the_newest_record_deleted_is_what_a_bare_chain_cannot_see(tmp_path):
    """Why the head is signed (moneypath.readiness.checkpoints): cut the newest record and the chain reads."""
    history(tmp_path, [T, T + DAY, T + 2 * DAY])
    _file(tmp_path, 3).unlink()
    assert len(h.read(tmp_path)) == 2


def test_nothing_is_appended_to_a_broken_history(tmp_path):
    history(tmp_path, [T, T + DAY, T + 2 * DAY])
    _rewrite(tmp_path, 2, drill="another")
    with pytest.raises(h.HistoryError, match="not appended: history BROKEN at seq 2") as caught:
        h.append(tmp_path, fields(ended=T + 3 * DAY))
    assert caught.value.seq == 2 and not _file(tmp_path, 4).exists()


# ---------------------------------------------------------------- whole, exclusive, concurrent


def test_a_crash_while_writing_leaves_no_partial_record(tmp_path, monkeypatch):
    history(tmp_path, [T])

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", crash)
    with pytest.raises(h.HistoryError, match="No space left on device"):
        h.append(tmp_path, fields(ended=T + DAY))
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "records").iterdir()) == ["00000001.json"]
    (tmp_path / "records" / ".00000002.999.dead.tmp").write_text('{"half')  # a writer killed mid-write
    assert [r["seq"] for r in h.read(tmp_path)] == [1]
    assert h.append(tmp_path, fields(ended=T + DAY))["seq"] == 2


def test_a_seq_taken_by_a_writer_without_the_lock_is_never_overwritten(tmp_path, monkeypatch):
    """A writer on another host (no shared lock) takes seq 2 between our read and our link: we chain after it."""
    history(tmp_path, [T])
    real_walk = h.walk
    intruded = []

    def walk_then_intrude(folder):
        chain = real_walk(folder)
        if not intruded:
            intruded.append(1)
            other = {**fields(drill="other"), "seq": 2, "prev": chain.head[1], "recorded_at": "x", "schema": 1}
            _file(tmp_path, 2).write_bytes(h.canonical(other))
        return chain

    monkeypatch.setattr(h, "walk", walk_then_intrude)
    mine = h.append(tmp_path, fields(drill="mine"))
    assert mine["seq"] == 3
    assert [r["drill"] for r in h.read(tmp_path)] == ["duplicate-charge", "other", "mine"]


def _append_many(folder: str, name: str, count: int) -> None:
    for i in range(count):
        h.append(folder, fields(drill=f"{name}-{i}"))


def test_two_processes_appending_at_once_do_not_fork_the_chain(tmp_path):
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_append_many, args=(str(tmp_path), name, 15)) for name in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    records = h.read(tmp_path)
    assert [r["seq"] for r in records] == list(range(1, 31))
    assert sorted(r["drill"] for r in records) == sorted(f"{n}-{i}" for n in "ab" for i in range(15))
