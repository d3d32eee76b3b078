"""Signed checkpoints of the audit trail: the chain's head (seq, hash, time) signed with a key the database
never holds, published where a database writer cannot reach it, so the chain can be proven to an outsider.

A hash chain whose every anchor lives in the same database proves little: whoever can write the tables can
re-hash every event after the one they edit, append an event with a correct hash, or cut the newest ones
off and move the head back, and the chain verifies again. Transparency logs (Certificate Transparency,
Go's checksum database, transparency-dev/tessera) answer with signed checkpoints kept outside the log and
consistency between two heads. Here: the writer signs its verified head at an interval; a later chain is
consistent with a checkpoint when its event at the checkpoint's seq has the checkpoint's hash (each
event's hash covers the whole prefix, so the events after a checkpoint are the consistency proof between
two heads). `moneypath audit verify --checkpoints DIR --key PUB` walks the chain through every checkpoint and
says how much of it they cover (`coverage`); `verify_since` is what a signer checks before it signs a new head.

The format is C2SP's signed note (https://c2sp.org/signed-note) with Ed25519 keys, as Go's
golang.org/x/mod/sumdb/note reads and writes it, and a body shaped like a tlog checkpoint:

    <origin: the key's name>
    <seq>
    <the event's hash at seq, base64>
    time <UTC, RFC 3339>

    — <key name> <base64(4-byte key id || 64-byte Ed25519 signature of the body)>

Keys: a verifier key is `<name>+<key id, hex>+<base64(0x01 || public key)>`, a signer key
`PRIVATE+KEY+<name>+<key id, hex>+<base64(0x01 || private seed)>`, key id = sha256(name "\\n" 0x01
public key)[:4]. A checkpoint directory holds one file per checkpoint, `<seq, 20 digits>.note`, created
exclusively (never replaced): give the service a directory only it can add to, and nobody who can write
the database — another host, an append-only mount, an object store with a retention lock.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from moneypath._common.atomic import create_once
from moneypath.protocol.audit.chain import ChainVerdict, ChainWatch, verify_database

ALGORITHM_ED25519 = 1
SIGNATURE_PREFIX = "\u2014 "  # "— ": a signature line
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a key name that is also a safe file name
FILE = re.compile(r"(\d{20})\.note")


class CheckpointError(Exception):
    """A key or checkpoint that cannot be used; the message is one line."""


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALGORITHM_ED25519]) + public).digest()[:4]


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise CheckpointError(f"{what} is not base64") from None


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise CheckpointError(f"key name {name!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a "
                              "letter or digit")
    return name


def generate_key(name: str) -> tuple[str, str]:
    """A new Ed25519 key named `name`: (signer key, verifier key), as text."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    check_name(name)
    seed = secrets.token_bytes(32)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = _key_id(name, public).hex()
    return (f"PRIVATE+KEY+{name}+{key_id}+{base64.b64encode(bytes([ALGORITHM_ED25519]) + seed).decode()}",
            f"{name}+{key_id}+{base64.b64encode(bytes([ALGORITHM_ED25519]) + public).decode()}")


def write_key_pair(name: str, out: Path) -> tuple[Path, Path, str]:
    """A new key pair as `out/NAME.key` (the signer key, mode 0600) and `out/NAME.pub`: (private path, public
    path, verifier key). Never replaces a key; CheckpointError in one line, and no half-written pair."""
    signer, verifier = generate_key(name)
    private, public = out / f"{name}.key", out / f"{name}.pub"
    for path in (private, public):
        if path.exists():
            raise CheckpointError(f"{path} exists; refusing to replace a key")
    if not out.is_dir():
        raise CheckpointError(f"{out} is not a directory")
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(signer + "\n")
        try:
            with open(public, "x") as f:
                f.write(verifier + "\n")
        except OSError:
            private.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CheckpointError(f"cannot write the key files in {out}: {exc.strerror}") from None
    return private, public, verifier


def _key_parts(text: str, what: str) -> tuple[str, bytes, bytes]:
    parts = text.strip().split("+", 2)  # the base64 may hold "+" too
    if len(parts) != 3:
        raise CheckpointError(f"{what} must look like NAME+KEYID+BASE64")
    name, key_id, material = parts
    check_name(name)
    raw = _b64(material, what)
    if len(raw) != 33 or raw[0] != ALGORITHM_ED25519 or not re.fullmatch(r"[0-9a-f]{8}", key_id):
        raise CheckpointError(f"{what} is not an Ed25519 key (algorithm 1, 32 bytes, an 8-digit hex key id)")
    return name, bytes.fromhex(key_id), raw[1:]


class Signer:
    """Signs notes with a signer key (`PRIVATE+KEY+...`)."""

    def __init__(self, text: str):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        if not text.strip().startswith("PRIVATE+KEY+"):
            raise CheckpointError("a signer key starts with PRIVATE+KEY+ (`moneypath audit keygen` writes one)")
        self.name, key_id, seed = _key_parts(text.strip()[len("PRIVATE+KEY+"):], "the signer key")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        if _key_id(self.name, public) != key_id:
            raise CheckpointError("the signer key's id does not match its name and key")
        self.key_id = key_id
        self.verifier_key = (f"{self.name}+{key_id.hex()}+"
                             f"{base64.b64encode(bytes([ALGORITHM_ED25519]) + public).decode()}")

    def sign(self, body: str) -> str:
        signature = base64.b64encode(self.key_id + self._key.sign(body.encode())).decode()
        return f"{body}\n{SIGNATURE_PREFIX}{self.name} {signature}\n"


class Verifier:
    """Opens notes signed by one key (a verifier key, `NAME+KEYID+BASE64`)."""

    def __init__(self, text: str):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        if text.strip().startswith("PRIVATE+KEY+"):
            raise CheckpointError("that is the signer (private) key; verifying takes the verifier key (NAME.pub)")
        self.name, self.key_id, public = _key_parts(text, "the verifier key")
        if _key_id(self.name, public) != self.key_id:
            raise CheckpointError("the verifier key's id does not match its name and key")
        self._key = Ed25519PublicKey.from_public_bytes(public)

    def open(self, note: str) -> str:
        """The body of a note with a valid signature by this key; CheckpointError otherwise."""
        from cryptography.exceptions import InvalidSignature

        body, sep, signatures = note.rpartition("\n\n")
        if not sep or not body or "\r" in note:
            raise CheckpointError("not a signed note (text, a blank line, signature lines)")
        body += "\n"
        for line in signatures.splitlines():
            if not line.startswith(SIGNATURE_PREFIX):
                raise CheckpointError("not a signed note: a line after the blank line is not a signature")
            name, _, encoded = line[len(SIGNATURE_PREFIX):].partition(" ")
            raw = _b64(encoded, "a signature")
            if name != self.name or raw[:4] != self.key_id:
                continue
            try:
                self._key.verify(raw[4:], body.encode())
            except InvalidSignature:
                raise CheckpointError(f"its signature by {self.name} does not verify: it was altered or forged") \
                    from None
            return body
        raise CheckpointError(f"it carries no signature by {self.name}")


def read_key(text_or_path: str, what: str) -> str:
    """A key given as a file's path or as the text itself."""
    path = Path(text_or_path)
    if "+" not in text_or_path or path.is_file():
        try:
            return path.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"cannot read the {what} {text_or_path}: {exc.strerror or exc}") from None
    return text_or_path.strip()


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    seq: int
    hash: str  # hex, as the events table stores it
    time: float  # when it was signed (unix seconds)
    source: str = ""  # the file it was read from

    def body(self) -> str:
        stamp = datetime.fromtimestamp(self.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.origin}\n{self.seq}\n{base64.b64encode(bytes.fromhex(self.hash)).decode()}\ntime {stamp}\n"

    def label(self) -> str:
        stamp = datetime.fromtimestamp(self.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"checkpoint {self.source or self.seq} (seq {self.seq}, signed {stamp})"


def parse_body(body: str, origin: str, source: str = "") -> Checkpoint:
    lines = body.splitlines()
    if len(lines) < 4 or lines[0] != origin or not lines[1].isdigit() or not lines[3].startswith("time "):
        raise CheckpointError(f"not a checkpoint of {origin} (origin, seq, hash, time lines)")
    digest = _b64(lines[2], "the checkpoint's hash")
    try:
        at = datetime.strptime(lines[3][5:], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise CheckpointError("the checkpoint's time is not RFC 3339 UTC (2026-01-31T12:00:00Z)") from None
    if len(digest) != 32:
        raise CheckpointError("the checkpoint's hash is not 32 bytes")
    return Checkpoint(origin, int(lines[1]), digest.hex(), at, source)


class CheckpointDir:
    """One file per checkpoint, `<seq>.note`, each created exclusively: a checkpoint is never replaced."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def files(self) -> list[Path]:
        """The checkpoint files, oldest seq first."""
        try:
            return sorted(p for p in self.path.iterdir() if FILE.fullmatch(p.name))
        except OSError as exc:
            raise CheckpointError(f"cannot read the checkpoint directory {self.path}: {exc.strerror}") from None

    def publish(self, note: str, seq: int) -> Path | None:
        """Write a checkpoint for `seq`; None when one exists for it already (left as it is). The file appears
        whole or not at all: written and synced under a temporary name, then linked to its own name, which
        fails if that exists."""
        self.path.mkdir(parents=True, exist_ok=True)
        final = self.path / f"{seq:020d}.note"
        return final if create_once(final, note.encode("utf-8")) else None

    def read(self, verifier: Verifier, files: Iterable[Path] | None = None) -> list[Checkpoint]:
        """Every checkpoint (or those in `files`), opened with the key; CheckpointError names a bad one."""
        found = []
        for path in self.files() if files is None else files:
            try:
                note = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CheckpointError(f"checkpoint {path.name}: cannot read it: {getattr(exc, 'strerror', exc)}") \
                    from None
            try:
                checkpoint = parse_body(verifier.open(note), verifier.name, path.name)
            except CheckpointError as exc:
                raise CheckpointError(f"checkpoint {path.name}: {exc}") from None
            if f"{checkpoint.seq:020d}.note" != path.name:
                raise CheckpointError(f"checkpoint {path.name}: it signs seq {checkpoint.seq}, not the seq it is "
                                      "named for")
            found.append(checkpoint)
        return found

    def newest(self, verifier: Verifier) -> Checkpoint | None:
        """The checkpoint with the highest seq (one file read), or None."""
        files = self.files()
        return self.read(verifier, files[-1:])[0] if files else None


def marks(checkpoints: Iterable[Checkpoint]) -> dict[int, tuple[str, str]]:
    """The (hash, label) a chain must have at each checkpoint's seq (moneypath.protocol.audit.chain.ChainWalk)."""
    found: dict[int, tuple[str, str]] = {}
    for checkpoint in checkpoints:
        found[checkpoint.seq] = (checkpoint.hash, checkpoint.label())
    return found


def coverage(verdict: ChainVerdict, checkpoints: list[Checkpoint], directory: str,
             required: bool = False) -> tuple[bool, str]:
    """An intact chain's verdict line with how much of it the signed checkpoints read from `directory` (oldest
    first) cover: the events after the newest are not covered yet. (False, a BROKEN line at the first uncovered
    seq) when `required` (every event must be covered: a copy taken after the service stopped, whose last act is a
    checkpoint of its head) and some are not."""
    if not checkpoints:
        covered_upto, words = 0, f"; no checkpoint in {directory} vouches for it"
    else:
        newest = checkpoints[-1]
        covered_upto = newest.seq
        words = f"; passes through {len(checkpoints)} signed checkpoint(s), the newest {newest.label()}"
    uncovered = verdict.last_seq - covered_upto
    if uncovered > 0 and required:
        newest_words = f" (the newest is {checkpoints[-1].label()})" if checkpoints else ""
        return False, (f"audit chain BROKEN at seq {covered_upto + 1}: seq {covered_upto + 1}..{verdict.last_seq} "
                       f"are not covered by any checkpoint{newest_words}: added after the last signature, and "
                       "--covered says nothing may be")
    if uncovered > 0 and checkpoints:
        words += f"; {uncovered} event(s) after it are not covered by a checkpoint yet"
    return True, verdict.line() + words


def verify_since(conn, newest: Checkpoint | None) -> ChainVerdict:
    """The chain in a database (a SQLAlchemy connection) verified from the newest checkpoint on: its seq still has
    the signed hash and the events after it chain on to the head (consistency between the two heads); the whole
    chain when there is no checkpoint yet, as the first one vouches for all history."""
    if newest is None:
        return verify_database(conn)
    watch = ChainWatch(sweep_min=0)
    watch.resume(newest.seq, newest.hash, f"signed in {newest.label()}")
    return watch.check(conn)


class Publisher:
    """What a writer runs at an interval: sign a head it has verified, publish it, skip it when unchanged."""

    def __init__(self, signer: Signer, directory: CheckpointDir):
        self.signer, self.directory = signer, directory
        self.verifier = Verifier(signer.verifier_key)
        self.last_seq = -1

    def newest(self) -> Checkpoint | None:
        found = self.directory.newest(self.verifier)
        if found is not None:
            self.last_seq = max(self.last_seq, found.seq)
        return found

    def publish(self, seq: int, hash_: str, now: float) -> Checkpoint | None:
        """Sign and publish (seq, hash); None when the head has not moved since the last checkpoint."""
        if seq <= self.last_seq or seq <= 0:
            return None
        checkpoint = Checkpoint(self.signer.name, seq, hash_, int(now))
        path = self.directory.publish(self.signer.sign(checkpoint.body()), seq)
        self.last_seq = seq
        if path is None:  # another instance on the same database signed this seq first: it must agree
            name = f"{seq:020d}.note"
            there = self.directory.read(self.verifier, [self.directory.path / name])[0]
            if there.hash != hash_:
                raise CheckpointError(f"checkpoint {name} signs another hash for seq {seq} than the chain has now: "
                                      "the chain was rewritten")
            return None
        return Checkpoint(checkpoint.origin, seq, hash_, checkpoint.time, path.name)
