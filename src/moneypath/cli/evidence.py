"""`moneypath evidence --from D --to D --out DIR` (the auditor's pack of a period) and `moneypath evidence verify DIR`
(its manifest and signature). The pack is moneypath.readiness.evidence."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from moneypath._common.exit_codes import ExitCode

EPILOG = """exit codes:
  evidence         0 every control of the map covered, 3 one is missing (no passed record of the period declares
                   it: not measured, never a pass; the pack is written either way), 1 the history's chain is
                   broken (no pack), 2 bad usage
  evidence verify  0 every file matches SHA256SUMS and its signature is good, 1 a byte changed, a file is missing
                   or added, or the signature is bad, 3 intact but unsigned

examples:
  moneypath evidence --from "$(date +%Y)-01-01" --to "$(date +%Y)-12-31" --out evidence --signing-key ~/.ssh/evidence_ed25519
  moneypath evidence verify evidence-2026 --key team-evidence.pub
  (an auditor, without moneypath: see VERIFY.txt in the pack)"""


def add_commands(commands, catalog_arg, state_arg) -> None:
    evidence = commands.add_parser(
        "evidence", help="write an auditor's pack of the drill history of a period, or verify one",
        description="Write the drill records of a period, their reports and a control map (PCI DSS 12.10, DORA Art. "
                    "11/25, SYSC 15A, SOC 2 CC7.4/7.5) into a directory an auditor reads without moneypath, with a "
                    "SHA256SUMS manifest and its ssh-keygen signature. A control is covered only where a passed "
                    "record of the period declares it; else the map says missing.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    evidence.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first day of the period (UTC)")
    evidence.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last day of the period (UTC, included)")
    evidence.add_argument("--out", metavar="DIR", help="where the pack goes (must not exist, or be empty)")
    catalog_arg(evidence)
    evidence.add_argument("--signing-key", metavar="FILE",
                          help="the team's Ed25519 private key that signs SHA256SUMS (OpenSSH: ssh-keygen -t "
                               "ed25519; or a `moneypath audit keygen` signer key); without it the pack is unsigned")
    evidence.add_argument("--control", action="append", default=None, metavar="ID",
                          help="a control the map judges, repeatable (default: every control moneypath knows, "
                               "listed in docs/evidence.md)")
    actions = evidence.add_subparsers(dest="evidence_command", metavar="ACTION")
    verify = actions.add_parser("verify", help="check a pack: every file against SHA256SUMS, and its signature",
                                description="Exit 0 intact and signed, 1 a byte changed or a file missing or added "
                                            "or a bad signature, 3 intact but unsigned.")
    verify.add_argument("pack", metavar="DIR")
    verify.add_argument("--key", metavar="PUB",
                        help="the team's public key (an ssh-ed25519 line, allowed_signers, or the audit trail's "
                             ".pub); default: the key the pack carries, which shows integrity, not who signed")
    verify.set_defaults(run=_verify)
    evidence.set_defaults(run=_build)


def _fail(text: str, code: int) -> int:
    print(f"moneypath evidence: {text}", file=sys.stderr)
    return code


def _build(args) -> int:
    from moneypath.readiness import evidence, sshsig

    missing = [o for o, v in (("--from", args.first), ("--to", args.last), ("--out", args.out)) if not v]
    if missing:
        return _fail(f"give {', '.join(missing)} (or `moneypath evidence verify DIR`)", ExitCode.USAGE)
    from moneypath.cli.history import history_option
    from moneypath.readiness.history import history_dir

    folder = history_dir(history_option(args), args.catalog)
    try:
        first = evidence.parse_day(args.first, "--from")
        last = evidence.parse_day(args.last, "--to")
        pack = evidence.build(folder, first, last, Path(args.out),
                              Path(args.signing_key) if args.signing_key else None, args.control)
    except evidence.EvidenceError as exc:
        return _fail(str(exc), exc.code)
    except sshsig.SignatureError as exc:
        return _fail(str(exc), ExitCode.USAGE)
    except OSError as exc:
        return _fail(f"cannot write {exc.filename or args.out}: {exc.strerror or exc}; nothing was written", ExitCode.FAIL)
    covered = [c for c, check in pack.controls.items() if check.ok]
    print(f"wrote {args.out}: {len(pack.records)} record(s) from {first} to {last}, {len(covered)} of "
          f"{len(pack.controls)} controls covered, {'signed by ' + pack.signed_by if pack.signed_by else 'unsigned'}")
    for control, check in pack.controls.items():
        print(f"  {control:<16} {'covered' if check.ok else 'MISSING'}  {evidence.shown_why(check)}")
    if pack.dataflow is not None:  # the data-flow diagram (PCI DSS 1.2.4): its own result, beside the controls'
        flow = pack.dataflow.check
        print(f"  {'data-flow':<16} {'drawn' if flow.ok else 'NOT DRAWN'}  {flow.why}")
    return pack.exit_code


def _verify(args) -> int:
    from moneypath.readiness import evidence

    key = None
    if args.key:
        try:
            key = Path(args.key).read_text() if Path(args.key).is_file() else args.key
        except OSError as exc:
            return _fail(f"cannot read --key {args.key}: {exc.strerror or exc}", ExitCode.USAGE)
    if not Path(args.pack).is_dir():
        return _fail(f"{args.pack}: no such directory", ExitCode.USAGE)
    result = evidence.verify(Path(args.pack), key)
    out = sys.stdout if result.code == 0 else sys.stderr
    for line in result.lines:
        print(line, file=out)
    return result.code
