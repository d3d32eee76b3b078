"""moneypath.protocol.audit.checkpoint.coverage: how much of an intact chain its signed checkpoints cover, the line
`moneypath audit verify --checkpoints` prints, and --covered's break at the first uncovered seq."""

from __future__ import annotations

from moneypath.protocol.audit.chain import ChainVerdict
from moneypath.protocol.audit.checkpoint import Checkpoint, coverage

SIGNED = 1_700_000_000  # 2023-11-14T22:13:20Z


def checkpoint(seq: int) -> Checkpoint:
    return Checkpoint("payments", seq, "ab" * 32, SIGNED, f"{seq:020d}.note")


def test_a_chain_covered_to_its_head_says_through_how_many_checkpoints():
    covered, line = coverage(ChainVerdict(20, 20), [checkpoint(10), checkpoint(20)], "cps", required=True)
    assert covered and line == ("audit chain intact: 20 event(s), seq 1..20; passes through 2 signed checkpoint(s), "
                                "the newest checkpoint 00000000000000000020.note (seq 20, signed 2023-11-14T22:13:20Z)")


def test_events_after_the_newest_checkpoint_are_counted_and_break_the_chain_only_when_required():
    covered, line = coverage(ChainVerdict(21, 21), [checkpoint(20)], "cps")
    assert covered and line.endswith("; 1 event(s) after it are not covered by a checkpoint yet")
    covered, line = coverage(ChainVerdict(21, 21), [checkpoint(20)], "cps", required=True)
    assert not covered and line == (
        "audit chain BROKEN at seq 21: seq 21..21 are not covered by any checkpoint (the newest is checkpoint "
        "00000000000000000020.note (seq 20, signed 2023-11-14T22:13:20Z)): added after the last signature, and "
        "--covered says nothing may be")


def test_a_directory_without_checkpoints_vouches_for_nothing():
    covered, line = coverage(ChainVerdict(3, 3), [], "cps")
    assert covered and line == "audit chain intact: 3 event(s), seq 1..3; no checkpoint in cps vouches for it"
    covered, line = coverage(ChainVerdict(3, 3), [], "cps", required=True)
    assert not covered and line.startswith("audit chain BROKEN at seq 1: seq 1..3 are not covered by any checkpoint:")
    assert coverage(ChainVerdict(0, 0), [], "cps", required=True) == (
        True, "audit chain intact: no events yet; no checkpoint in cps vouches for it")
