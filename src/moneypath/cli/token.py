"""`moneypath token`: mint a short-lived API token (moneypath.protocol.tokens) and print it alone on stdout, e.g.
the admin:faults token the fault proxy, the simulator and the reference service want for /admin/faults.

The secret is the running stack's (`<state-dir>/secrets.json`, as drills and load tests read it) when --state-dir
is given or no $MONEYPATH_TOKEN_SECRET is set, else $MONEYPATH_TOKEN_SECRET. Bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from moneypath._common.exit_codes import ExitCode

TOKEN_SECRET = "MONEYPATH_TOKEN_SECRET"
TTL = re.compile(r"(\d+)([smh]?)")
TTL_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600}


def add_commands(commands, catalog_arg, state_arg) -> None:
    from moneypath.protocol.tokens import MAX_LIFETIME_S, SCOPES, SUBJECT_MAX

    token = commands.add_parser(
        "token", help="mint a short-lived API token (e.g. admin:faults) and print it",
        description="Mint a token signed with the stack's secret and print it alone on stdout, for\n"
                    "`Authorization: Bearer ...`: admin:faults for PUT/DELETE /admin/faults on the fault proxy,\n"
                    "the provider simulator or the reference service; payments:write and payments:read for the\n"
                    "reference service's API. The secret: the stack's in --state-dir (secrets.json, written by\n"
                    f"`moneypath up`), else ${TOKEN_SECRET} (what you gave your fault proxy or service).",
        epilog="example:\n  curl -X PUT -H \"Authorization: Bearer $(moneypath token --scope admin:faults)\" \\\n"
               "      -d '{\"provider\": \"acme\", \"rate\": 1}' http://127.0.0.1:8790/admin/faults/error_rate",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    token.add_argument("--scope", action="append", required=True, metavar="SCOPE",
                       help=f"a scope the token carries (repeatable): {', '.join(SCOPES)}")
    token.add_argument("--ttl", default="1h", metavar="DURATION",
                       help=f"how long it is good for: seconds, or with s, m or h (default 1h; at most "
                            f"{MAX_LIFETIME_S // 3600}h, the longest a token is accepted)")
    token.add_argument("--subject", default="operator", metavar="NAME",
                       help=f"who the token names (1-{SUBJECT_MAX} printable characters; default operator)")
    state_arg(token, default=None)  # --state-dir: the stack whose secret signs it (default: $TOKEN_SECRET when set,
    # else $MONEYPATH_STATE_DIR or .moneypath)
    token.set_defaults(run=_token)


def _fail(message: str) -> int:
    print(f"moneypath token: {message}", file=sys.stderr)
    return ExitCode.USAGE


def parse_ttl(text: str) -> int:
    """'1h', '15m', '90s' or '900' → seconds; ValueError with the one line to print."""
    from moneypath.protocol.tokens import MAX_LIFETIME_S

    match = TTL.fullmatch(text.strip())
    if not match:
        raise ValueError(f"--ttl {text!r}: expected seconds or a number with s, m or h, e.g. 15m or 1h")
    seconds = int(match[1]) * TTL_UNIT_S[match[2]]
    if not 0 < seconds <= MAX_LIFETIME_S:
        raise ValueError(f"--ttl {text!r}: must be more than 0 and at most {MAX_LIFETIME_S // 3600}h "
                         "(a longer-lived token is refused)")
    return seconds


def secret_from(state_dir: str | None, environ: dict[str, str]) -> bytes:
    """The signing secret: --state-dir's stack, else the environment's, else the default stack's; ValueError."""
    if state_dir is None and environ.get(TOKEN_SECRET):
        return environ[TOKEN_SECRET].encode()
    from moneypath.stack.service_files import SECRETS_FILE, read_secrets

    where = Path(state_dir or environ.get("MONEYPATH_STATE_DIR") or ".moneypath")
    try:
        return read_secrets(where)["token_secret"].encode()
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"no token secret: {where / SECRETS_FILE} is missing or unreadable (a stack `moneypath up` "
                         f"started with its services writes it); give --state-dir DIR or set {TOKEN_SECRET}") from None


def _token(args) -> int:
    import difflib

    from moneypath.protocol.tokens import SCOPES, SUBJECT_MAX, issue

    for scope in args.scope:
        if scope not in SCOPES:
            close = difflib.get_close_matches(scope, SCOPES, n=1)
            return _fail(f"--scope {scope!r} is not a scope (known: {', '.join(SCOPES)})"
                         + (f"; did you mean {close[0]}?" if close else ""))
    if not 0 < len(args.subject) <= SUBJECT_MAX or not args.subject.isprintable():
        return _fail(f"--subject must be 1-{SUBJECT_MAX} printable characters")
    try:
        ttl_s = parse_ttl(args.ttl)
        secret = secret_from(args.state_dir, dict(os.environ))
    except ValueError as exc:
        return _fail(str(exc))
    print(issue(secret, args.subject, sorted(set(args.scope)), ttl_s=ttl_s))
    return 0
