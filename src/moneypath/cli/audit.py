"""`moneypath audit`: the audit trail's hash chain (moneypath.protocol.audit.chain) and its signed checkpoints
(moneypath.protocol.audit.checkpoint: how much of a chain they cover, what is new since the newest), a long chain
walked in processes (moneypath.check.audit_trail). This module parses, calls and prints.

- `verify --db URL [--checkpoints DIR --key PUB] [--covered]`: walk the chain, read-only (SQLite mode=ro,
  PostgreSQL read-only transactions, as `lint --db-url` opens it), through every signed checkpoint.
- `keygen NAME --out DIR`: an Ed25519 key pair for the checkpoints (the private half never goes in the database).
- `checkpoint --db URL --key KEY --checkpoints DIR`: sign the verified head, for a service that does not sign
  its own (a cron job on another host); it verifies only what is new since the newest checkpoint.

One line each; exit 0 when the chain is intact, 1 with the first broken event (or the checkpoint it
contradicts), 2 for a URL, database, key or checkpoint that cannot be read.
"""

from __future__ import annotations

import os
import sys
import time

from moneypath._common.exit_codes import ExitCode
from moneypath.protocol.audit.chain import PENDING_MAX_S


def add_commands(commands, catalog_arg, state_arg) -> None:
    audit = commands.add_parser("audit", help="the audit trail of a service's financial records",
                                description="Tools for the hash-chained audit trail (tables audit_events and "
                                            "audit_head) that the reference service writes, and its signed "
                                            "checkpoints.")
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    actions.required = True
    verify = actions.add_parser(
        "verify", help="walk the hash chain; exit 1 at the first edited, deleted or cut-off event",
        description="Recompute every event's hash in seq order and compare it with the stored one, the next "
                    "event's prev_hash and the head row; events stored beyond the head are a break too. With "
                    "--checkpoints, the chain must also pass through every signed checkpoint (its event at the "
                    "checkpoint's seq has the signed hash): a chain re-hashed, cut off or with its newest event "
                    "edited is caught, naming the checkpoint it contradicts. Prints one line: the event count "
                    "when intact, else the first broken seq and why. Events written but not yet chained "
                    "(audit_pending, if the database has it: PostgreSQL bookings park their event there while "
                    "another transaction chains) are counted as pending; one older than "
                    f"{PENDING_MAX_S:g} s is a break. The database is opened read-only; a read-only user is enough.")
    verify.add_argument("--db", metavar="URL", required=True,
                        help="the service's database (SQLAlchemy URL: sqlite:///PATH or "
                             "postgresql+psycopg://USER@HOST/DB)")
    verify.add_argument("--checkpoints", metavar="DIR",
                        help="the directory the service publishes its signed checkpoints to "
                             "(MONEYPATH_AUDIT_CHECKPOINT_DIR); needs --key")
    verify.add_argument("--key", metavar="PUB",
                        help="the checkpoints' verifier key (NAME+KEYID+BASE64, or a file holding it: the .pub "
                             "`moneypath audit keygen` wrote); get it from the service's owner, not from DIR")
    verify.add_argument("--covered", action="store_true",
                        help="every event must be covered by a checkpoint (exit 1 otherwise): for a copy or backup "
                             "taken after the service stopped, whose last act is a checkpoint of its head")
    verify.add_argument("--jobs", metavar="N", type=int, default=0,
                        help="processes that walk parts of a long chain at once (default: one per CPU, at most 4; "
                             "1: one walk). A chain under 200,000 events is always walked by one")
    verify.set_defaults(run=_verify)

    keygen = actions.add_parser(
        "keygen", help="make an Ed25519 key pair for signing checkpoints",
        description="Writes DIR/NAME.key (the signer key, mode 0600: give it to the service as "
                    "MONEYPATH_AUDIT_CHECKPOINT_KEY, never to the database) and DIR/NAME.pub (the verifier key: "
                    "publish it; `audit verify --key` takes it). Refuses to replace either file.")
    keygen.add_argument("name", metavar="NAME", help="the key's name, also the checkpoints' origin line "
                                                      "(letters, digits, '.', '_', '-')")
    keygen.add_argument("--out", metavar="DIR", default=".", help="where to write the two files (default: .)")
    keygen.set_defaults(run=_keygen)

    checkpoint = actions.add_parser(
        "checkpoint", help="sign the chain's verified head into a checkpoint directory",
        description="Verify what is new since the newest checkpoint in DIR (its seq still has its hash, the "
                    "events after it chain on to the head; the whole chain when DIR has none yet), then sign the "
                    "head and add it to DIR. For a service that does not sign its own checkpoints: run it at an "
                    "interval from a host whose key the database never sees.")
    checkpoint.add_argument("--db", metavar="URL", required=True, help="the service's database (as for verify)")
    checkpoint.add_argument("--key", metavar="KEY", required=True, help="the signer key file (PRIVATE+KEY+...)")
    checkpoint.add_argument("--checkpoints", metavar="DIR", required=True, help="the checkpoint directory")
    checkpoint.set_defaults(run=_checkpoint)


def _fail(command: str, message: str) -> int:
    print(f"moneypath audit {command}: {message}", file=sys.stderr)
    return ExitCode.USAGE


def _open(command: str, url: str):
    from moneypath.check.runbooks import BadDbUrl, DatabaseUnavailable, open_database

    try:
        return open_database(url)
    except (BadDbUrl, DatabaseUnavailable) as exc:
        _fail(command, f"--db: {exc}")
        return None


def _unreadable(command: str, exc) -> int:
    from moneypath.protocol.audit.chain import EVENTS_TABLE, HEAD_TABLE

    orig = getattr(exc, "orig", None) or exc
    first = " ".join(str(orig).split())[:200]
    return _fail(command, f"cannot read {EVENTS_TABLE} and {HEAD_TABLE} (is this the service's database?): {first}")


def _verify(args) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from moneypath.check.audit_trail import spans_in_processes
    from moneypath.protocol.audit.chain import verify_database
    from moneypath.protocol.audit.checkpoint import CheckpointDir, CheckpointError, Verifier, coverage, marks, read_key

    if (args.checkpoints is None) != (args.key is None):
        return _fail("verify", "--checkpoints and --key go together (the directory and the key that signed it)")
    if args.covered and args.checkpoints is None:
        return _fail("verify", "--covered needs --checkpoints DIR and --key PUB")
    if args.jobs < 0 or args.jobs > 64:
        return _fail("verify", f"--jobs {args.jobs}: give 1 to 64 processes (0: one per CPU, at most 4)")
    workers = args.jobs or min(4, os.cpu_count() or 1)
    checkpoints = []
    if args.checkpoints is not None:
        try:
            verifier = Verifier(read_key(args.key, "verifier key"))
            checkpoints = CheckpointDir(args.checkpoints).read(verifier)
        except CheckpointError as exc:
            return _fail("verify", str(exc))
    engine = _open("verify", args.db)
    if engine is None:
        return ExitCode.USAGE
    try:
        with engine.connect() as conn:
            verdict = verify_database(conn, marks=marks(checkpoints), spans=spans_in_processes(args.db),
                                      workers=workers)
    except SQLAlchemyError as exc:
        return _unreadable("verify", exc)
    finally:
        engine.dispose()
    if not verdict.intact or args.checkpoints is None:
        print(verdict.line())
        return 0 if verdict.intact else ExitCode.FAIL
    covered, line = coverage(verdict, checkpoints, args.checkpoints, required=args.covered)
    print(line)
    return 0 if covered else ExitCode.FAIL


def _keygen(args) -> int:
    from pathlib import Path

    from moneypath.protocol.audit.checkpoint import CheckpointError, write_key_pair

    try:
        private, public, verifier = write_key_pair(args.name, Path(args.out))
    except CheckpointError as exc:
        return _fail("keygen", str(exc))
    print(f"wrote {private} (signer key: the service's MONEYPATH_AUDIT_CHECKPOINT_KEY) and {public} (verifier "
          f"key: {verifier})")
    return 0


def _checkpoint(args) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from moneypath.protocol.audit.checkpoint import (
        CheckpointDir,
        CheckpointError,
        Publisher,
        Signer,
        read_key,
        verify_since,
    )

    try:
        publisher = Publisher(Signer(read_key(args.key, "signer key")), CheckpointDir(args.checkpoints))
        newest = publisher.newest() if publisher.directory.path.exists() else None
    except CheckpointError as exc:
        return _fail("checkpoint", str(exc))
    engine = _open("checkpoint", args.db)
    if engine is None:
        return ExitCode.USAGE
    try:
        with engine.connect() as conn:  # what is new since the newest checkpoint (all history before the first)
            verdict = verify_since(conn, newest)
    except SQLAlchemyError as exc:
        return _unreadable("checkpoint", exc)
    finally:
        engine.dispose()
    if not verdict.intact:
        print(verdict.line() + "; nothing signed")
        return ExitCode.FAIL
    try:
        made = publisher.publish(verdict.last_seq, verdict.last_hash, time.time())
    except (CheckpointError, OSError) as exc:
        return _fail("checkpoint", str(exc) if isinstance(exc, CheckpointError) else
                     f"cannot write to {args.checkpoints}: {exc.strerror}")
    if made is None:
        print(f"audit chain intact up to seq {verdict.last_seq}: already checkpointed, nothing new to sign")
    else:
        print(f"audit chain intact up to seq {verdict.last_seq}: signed {made.label()} into {args.checkpoints}")
    return 0
