"""`moneypath audit verify --db URL`: walk a database's audit trail hash chain (moneypath._common.audit_chain).

Read-only (SQLite mode=ro, PostgreSQL read-only transactions, as `lint --db-url` opens it): one line, exit 0
when the chain is intact, 1 with the first broken event, 2 for a URL or database that cannot be read.
"""

from __future__ import annotations

import sys

EXIT_BROKEN = 1
EXIT_USAGE = 2


def add_commands(commands, catalog_arg, state_arg) -> None:
    audit = commands.add_parser("audit", help="the audit trail of a service's financial records",
                                description="Tools for the hash-chained audit trail (tables audit_events and "
                                            "audit_head) that the reference service writes.")
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    actions.required = True
    verify = actions.add_parser(
        "verify", help="walk the hash chain; exit 1 at the first edited, deleted or cut-off event",
        description="Recompute every event's hash in seq order and compare it with the stored one, the next "
                    "event's prev_hash and the head row: prints one line, the event count when intact, else the "
                    "first broken seq and why (edited, deleted, newest events cut off). The database is opened "
                    "read-only; a read-only user is enough.")
    verify.add_argument("--db", metavar="URL", required=True,
                        help="the service's database (SQLAlchemy URL: sqlite:///PATH or "
                             "postgresql+psycopg://USER@HOST/DB)")
    verify.set_defaults(run=_verify)


def _verify(args) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from moneypath._common.audit_chain import EVENTS_TABLE, HEAD_TABLE, verify_database
    from moneypath.check.runbooks import BadDbUrl, DatabaseUnavailable, open_database

    try:
        engine = open_database(args.db)
    except (BadDbUrl, DatabaseUnavailable) as exc:
        print(f"moneypath audit verify: --db: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with engine.connect() as conn:
            verdict = verify_database(conn)
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        first = " ".join(str(orig).split())[:200]
        print(f"moneypath audit verify: cannot read {EVENTS_TABLE} and {HEAD_TABLE} (is this the service's "
              f"database?): {first}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        engine.dispose()
    print(verdict.line())
    return 0 if verdict.intact else EXIT_BROKEN
