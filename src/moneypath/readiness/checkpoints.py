"""Signed checkpoints of the drill history's head, kept outside the history: what catches the newest records
deleted or the newest one edited, which the hash chain alone cannot.

The scheme is the audit trail's (moneypath.protocol.audit.checkpoint): C2SP signed notes with an Ed25519 key
(`moneypath audit keygen NAME` writes one), one file per checkpoint, `<seq, 20 digits>.note`, created
exclusively, in a directory the history's writers can add to but nobody who can rewrite the history can
change (another repository, an object store with a retention lock). The signed hash at seq N is the sha256
of record N's bytes, which covers every record before it through the chain. `sign_head` signs the verified
head (after every appended record when the drill runner has a key); `verify` walks the chain through every
checkpoint: a checkpoint past the history's end is a deletion, another hash at its seq an edit or a rewrite.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from moneypath._common.verdict import Outcome
from moneypath.protocol.audit.checkpoint import (
    Checkpoint,
    CheckpointDir,
    CheckpointError,
    Publisher,
    Signer,
    Verifier,
    read_key,
)
from moneypath.readiness.history import Chain, HistoryError, journal_check, judge, walk

ENV_CHECKPOINTS = "MONEYPATH_HISTORY_CHECKPOINTS"  # the checkpoint directory
ENV_SIGNING_KEY = "MONEYPATH_HISTORY_SIGNING_KEY"  # the signer key file (PRIVATE+KEY+...), for the drill runner
ENV_VERIFIER_KEY = "MONEYPATH_HISTORY_VERIFIER_KEY"  # the verifier key (NAME+KEYID+BASE64) or its file


@dataclass
class Verification:
    """A history verified: its records, the newest signed seq (None: no checkpoints were read), the break."""

    records: list[dict]
    head: tuple[int, str]
    checkpoints: list[Checkpoint]
    covered: int | None
    error: HistoryError | None
    directory: str = ""
    journals: tuple[int, int] = (0, 0)  # journals that match their records, journals not found here

    @property
    def status(self) -> Outcome:
        return judge(len(self.records), self.error is not None, self.covered)

    def line(self) -> str:
        if self.error is not None:
            return str(self.error)
        n, seq = len(self.records), self.head[0]
        chained = f"history intact: {n} record(s), seq 1..{seq}" if n else "history intact: no records yet"
        if n:
            matched, absent = self.journals
            chained += f" ({matched} journal(s) match their records" + (
                f", {absent} not found here" if absent else "") + ")"
        if self.covered is None:
            return (chained + "; not measured beyond the chain: no signed checkpoints were read (--checkpoints DIR "
                    "--key PUB), and a chain alone cannot show its newest records deleted or its newest edited")
        if not self.checkpoints:
            return chained + f"; not measured beyond the chain: no checkpoint in {self.directory} vouches for it"
        newest = self.checkpoints[-1]
        words = f"; passes through {len(self.checkpoints)} signed checkpoint(s), the newest {newest.label()}"
        if seq > newest.seq:
            words += (f"; not measured beyond the chain for seq {newest.seq + 1}..{seq}: added after the newest "
                      "checkpoint (sign them: moneypath history checkpoint)")
        return chained + words


def verify(history_dir: str | Path, checkpoints_dir: str | Path | None = None,
           verifier_key: str | None = None) -> Verification:
    """The chain walked (moneypath.readiness.history.walk), each journal found at its record's report folder held
    against its journal_sha256, and, with a checkpoint directory and its verifier key, the chain held against
    every checkpoint. CheckpointError (one line) for a key or checkpoint that cannot be read."""
    chain = walk(history_dir)
    matched, absent, edited = journal_check(chain.records, history_dir)
    if edited is not None and (chain.error is None or chain.error.seq is None or edited.seq < chain.error.seq):
        chain.error = edited
    if checkpoints_dir is None:
        return Verification(chain.records, chain.head, [], None, chain.error, journals=(matched, absent))
    verifier = Verifier(read_key(verifier_key or "", "verifier key"))
    directory = CheckpointDir(checkpoints_dir)
    found = directory.read(verifier) if directory.path.exists() else []
    error = chain.error
    contradiction = _contradiction(chain, found)
    if contradiction is not None and (error is None or error.seq is None or contradiction.seq <= error.seq):
        error = contradiction
    covered = max((c.seq for c in found), default=0)
    return Verification(chain.records, chain.head, found, covered, error, str(checkpoints_dir), (matched, absent))


def _contradiction(chain: Chain, checkpoints: list[Checkpoint]) -> HistoryError | None:
    """The lowest seq a signed checkpoint contradicts: its record gone, or another hash there."""
    last = chain.head[0]
    walked_to = last if chain.error is None else (chain.error.seq or 1) - 1
    ordered = sorted(checkpoints, key=lambda c: c.seq)
    for checkpoint in ordered:
        if checkpoint.seq > walked_to:
            if chain.error is not None:
                return None  # the chain's own break comes first
            newest = ordered[-1]
            gap = f"seq {last + 1}" + (f"..{newest.seq}" if newest.seq > last + 1 else "")
            return HistoryError(f"history BROKEN at seq {last + 1}: missing ({gap} deleted: {newest.label()} "
                                f"signs seq {newest.seq}, the history ends at seq {last})", last + 1, "missing")
        if chain.hashes[checkpoint.seq] != checkpoint.hash:
            return HistoryError(f"history BROKEN at seq {checkpoint.seq}: edited (it is not the record "
                                f"{checkpoint.label()} signed: edited, or the chain rewritten up to it)",
                                checkpoint.seq, "edited")
    return None


def sign_head(history_dir: str | Path, checkpoints_dir: str | Path, signer_key: str,
              now: float | None = None) -> Checkpoint | None:
    """Verify the history against the checkpoints so far, then sign its head into `checkpoints_dir`; None when
    the head is signed already. HistoryError when the history is broken (nothing is signed), CheckpointError
    for a key or directory that cannot be used."""
    signer = Signer(read_key(signer_key, "signer key"))
    checked = verify(history_dir, checkpoints_dir, signer.verifier_key)
    if checked.error is not None:
        raise HistoryError(f"{checked.error}; nothing signed", checked.error.seq, checked.error.problem)
    seq, digest = checked.head
    if seq == 0:
        return None
    publisher = Publisher(signer, CheckpointDir(checkpoints_dir))
    publisher.last_seq = checked.covered or 0
    try:
        return publisher.publish(seq, digest, time.time() if now is None else now)
    except OSError as exc:
        raise CheckpointError(f"cannot write to {checkpoints_dir}: {exc.strerror or exc}") from None


def signing_from(checkpoints: str | None, signing_key: str | None) -> tuple[str | None, str | None]:
    """The checkpoint directory and signer key a drill run signs with: the options, else the environment."""
    return (checkpoints or os.environ.get(ENV_CHECKPOINTS) or None,
            signing_key or os.environ.get(ENV_SIGNING_KEY) or None)
