"""`moneypath history list | verify | checkpoint`: the drill history (moneypath.readiness.history) and its signed
checkpoints (moneypath.readiness.checkpoints); also the options `drill run` and `demo` record with.

- `list [--json]`: the records, newest first.
- `verify [--checkpoints DIR --key PUB]`: exit 0 when the chain is intact and its head is covered by a signed
  checkpoint, 1 at the first edited, reordered, missing or extra record (or one a checkpoint contradicts),
  3 when the chain is intact but nothing signed vouches for its newest records (not measured), 2 bad usage.
- `checkpoint --checkpoints DIR --signing-key KEY`: sign the verified head now (a history appended without a key).
Keys are the audit trail's: `moneypath audit keygen NAME --out DIR`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath._common.verdict import EXIT_CODES, FAIL
from moneypath.cli import where

HISTORY_HELP = ("the drill history directory (default: $MONEYPATH_HISTORY, else the run config's history.dir, else "
                "drill-history/ beside the catalog: "
                "ops/drill-history/ for ops/moneypath.yaml)")


def history_options(parser, team_default: bool) -> None:
    """The recording options of `drill run` (team_default: a run records unless --no-history) and `demo` (records
    only with --history). The record's environment and its signing come from the environment or the run config
    (history.environment, history.checkpoints, history.signing_key: docs/configuration.md)."""
    if team_default:
        parser.add_argument("--no-history", action="store_true",
                            help="record nothing (a trial run that is no part of the team's record)")
    parser.add_argument("--game-day", action="store_true",
                        help="record the runs as a game day (kind gameday) instead of drills")


def recorder(args, team_default: bool):
    """The Recorder the options ask for, or None (no history for this run); HistoryError (one line) for an empty
    environment name, half of the signing options, or a signer key that cannot sign."""
    from moneypath.cli.where import value
    from moneypath.protocol.audit.checkpoint import CheckpointError, Signer, read_key
    from moneypath.readiness.checkpoints import signing_from
    from moneypath.readiness.history import HistoryError, environment_name, history_dir
    from moneypath.readiness.records import KIND_GAMEDAY, Recorder

    if getattr(args, "no_history", False):
        return None
    given = history_option(args) if team_default else args.history
    folder = history_dir(given, args.catalog) if team_default else (Path(given) if given else None)
    if folder is None:
        return None
    checkpoints, key = signing_from(value(args, "history.checkpoints"), value(args, "history.signing_key"))
    if (checkpoints is None) != (key is None):
        raise HistoryError("history checkpoints and signing key go together (where to sign the history's head, and "
                           "the key to sign it with: $MONEYPATH_HISTORY_CHECKPOINTS and $MONEYPATH_HISTORY_SIGNING_KEY, "
                           "or history.checkpoints and history.signing_key in moneypath.run.yaml)")
    if key is not None:  # a key that cannot sign is said before the drills run, not after
        try:
            Signer(read_key(key, "signer key"))
        except CheckpointError as exc:
            raise HistoryError(f"history signing key: {exc}") from None
    return Recorder(folder, environment_name(value(args, "history.environment")), KIND_GAMEDAY if args.game_day else None,
                    checkpoints, key)


def add_commands(commands, catalog_arg, state_arg) -> None:
    history = commands.add_parser("history", help="the drill history: every drill run on record, hash-chained",
                                  description="Every `moneypath drill run` appends a record to the drill history "
                                              "(records/<seq>.json, each carrying the hash of the one before); "
                                              "signed checkpoints of its head, kept elsewhere, catch the newest "
                                              "records deleted or edited. See docs/drill-history.md.")
    actions = history.add_subparsers(dest="history_command", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser("list", help="the records, newest first",
                                 description="One line per record, newest first: seq, when, environment, kind, "
                                             "drill, verdict, time to page (real time), roles answered. The chain "
                                             "is verified first; a broken one is one line and exit 1.")
    listing.add_argument("--json", action="store_true", help="the records as a JSON list, newest first")
    _common(listing, catalog_arg)
    listing.set_defaults(run=_list)

    verify = actions.add_parser(
        "verify", help="walk the chain and its signed checkpoints; exit 1 at the first bad record",
        description="Every record in seq order: named by its seq, none skipped, canonical JSON, its prev the hash "
                    "of the record before; each journal.json found in a record's report folder must have the "
                    "record's journal_sha256. With --checkpoints and --key the chain must also pass through every "
                    "signed checkpoint (a checkpoint past the history's end: records deleted; another hash at its "
                    "seq: a record edited). Exit 0 intact and covered, 1 broken (the first bad seq and what is "
                    "wrong: edited, reordered, missing, extra), 3 intact but not measured beyond the chain (no "
                    "checkpoints, or records after the newest), 2 bad usage.")
    _common(verify, catalog_arg)
    where.option(verify, "history.checkpoints", metavar="DIR",
                 help="the checkpoint directory (default: $MONEYPATH_HISTORY_CHECKPOINTS, else history.checkpoints "
                      "in moneypath.run.yaml); needs --key")
    verify.add_argument("--key", metavar="PUB", default=os.environ.get("MONEYPATH_HISTORY_VERIFIER_KEY"),
                        help="the verifier key (NAME+KEYID+BASE64 or the .pub file; default: "
                             "$MONEYPATH_HISTORY_VERIFIER_KEY); get it from the key's owner, not from DIR")
    verify.set_defaults(run=_verify)

    checkpoint = actions.add_parser(
        "checkpoint", help="sign the verified head into the checkpoint directory now",
        description="Verify the history against the checkpoints so far, then sign its head (for records appended "
                    "without a key, or a signer on another host). Exit 1 when the history is broken (nothing signed).")
    _common(checkpoint, catalog_arg)
    where.option(checkpoint, "history.checkpoints", metavar="DIR")
    where.option(checkpoint, "history.signing_key", metavar="FILE")
    checkpoint.set_defaults(run=_checkpoint)


def _common(parser, catalog_arg) -> None:
    catalog_arg(parser)


def _fail(command: str, message: str) -> int:
    print(f"moneypath history {command}: {message}", file=sys.stderr)
    return ExitCode.USAGE


def _folder(args) -> Path:
    from moneypath.readiness.history import history_dir

    return history_dir(history_option(args), args.catalog)


def history_option(args) -> str | None:
    """--history (the top parser's), else $MONEYPATH_HISTORY, else the run config's history.dir."""
    from moneypath.cli.where import settings

    return settings(args).get("history.dir", args.history)


def _list(args) -> int:
    from moneypath.readiness.history import HistoryError, read

    folder = _folder(args)
    try:
        records = list(reversed(read(folder)))
    except HistoryError as exc:
        print(str(exc))
        return EXIT_CODES[FAIL]
    if args.json:
        print(json.dumps(records, indent=1, ensure_ascii=False))
        return 0
    if not records:
        print(f"no records in {folder}")
        return 0
    headers = ["seq", "ended", "environment", "kind", "drill", "verdict", "page", "roles"]
    rows = [[str(r["seq"]), r["ended_at"], r["environment"], r["kind"], r["drill"], r["verdict"].upper(),
             _page(r), _roles(r)] for r in records]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


def _page(record: dict) -> str:
    times = [a["time_to_page_s"] for a in record.get("alerts", []) if a.get("time_to_page_s") is not None]
    return f"{max(times) / 60:.1f} min" if times else "—"


def _roles(record: dict) -> str:
    roles = record.get("roles", [])
    answered = [r for r in roles if r.get("who")]
    late = sum(1 for r in answered if r.get("late"))
    return f"{len(answered)}/{len(roles)}" + (f" ({late} late)" if late else "") if roles else "—"


def _verify(args) -> int:
    from moneypath.protocol.audit.checkpoint import CheckpointError
    from moneypath.readiness.checkpoints import verify

    if (args.checkpoints is None) != (args.key is None):
        return _fail("verify", "--checkpoints and --key go together (the directory and the key that signs it)")
    folder = _folder(args)
    if not folder.is_dir():
        return _fail("verify", f"no drill history at {folder} (give --history DIR)")
    try:
        checked = verify(folder, args.checkpoints, args.key)
    except CheckpointError as exc:
        return _fail("verify", str(exc))
    print(checked.line())
    return EXIT_CODES[checked.status]


def _checkpoint(args) -> int:
    from moneypath.protocol.audit.checkpoint import CheckpointError
    from moneypath.readiness.checkpoints import sign_head
    from moneypath.readiness.history import HistoryError

    if not args.checkpoints or not args.signing_key:
        return _fail("checkpoint", "give --checkpoints DIR and --signing-key FILE (or history.checkpoints and "
                                   "history.signing_key in moneypath.run.yaml, or their environment variables)")
    folder = _folder(args)
    if not folder.is_dir():
        return _fail("checkpoint", f"no drill history at {folder} (give --history DIR)")
    try:
        made = sign_head(folder, args.checkpoints, args.signing_key)
    except HistoryError as exc:
        print(str(exc))
        return EXIT_CODES[FAIL]
    except CheckpointError as exc:
        return _fail("checkpoint", str(exc))
    print(f"signed {made.label()} into {args.checkpoints}" if made else
          "nothing new to sign: the head is signed already (or the history is empty)")
    return 0
