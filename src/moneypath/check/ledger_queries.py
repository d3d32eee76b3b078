"""The catalog's money-check queries (`money_checks:`, formerly `ledger:`) prepared on the team's database.

Each declared query is prepared with ``EXPLAIN`` on the read-only connection `open_database` gives, with
placeholder values for its parameters (one id for ``:ids``, 0 for ``:since``): nothing is executed. A query
the database cannot prepare is one line naming the catalog key and the database's own message, so a table
name that is wrong is found by `moneypath lint --db-url`, not by a drill that would report it as not checked.
"""

from __future__ import annotations

from moneypath.catalog import Catalog, MoneyChecks

_PLACEHOLDERS = {"ids": ["moneypath-lint"], "since": 0}


def declared(catalog: Catalog) -> list[str]:
    """``money_checks.<check>`` for every money-check query the catalog declares."""
    return [f"money_checks.{name}" for name in MoneyChecks.model_fields
            if getattr(catalog.money_checks, name) is not None]


def check_ledger_queries(catalog: Catalog, db_url: str) -> list[str]:
    """``<catalog>: money_checks.<check>: what is wrong`` for each declared query the database cannot prepare.
    Raises `BadDbUrl` or `DatabaseUnavailable` (one line) when the database cannot be opened."""
    from sqlalchemy import bindparam, text
    from sqlalchemy.exc import SQLAlchemyError

    from moneypath.check.runbooks import database_error, open_database

    db = open_database(db_url)
    problems = []
    try:
        for key in declared(catalog):
            sql = getattr(catalog.money_checks, key.removeprefix("money_checks."))
            params = {k: v for k, v in _PLACEHOLDERS.items() if f":{k}" in sql}
            statement = text(f"EXPLAIN {sql}")
            if "ids" in params:
                statement = statement.bindparams(bindparam("ids", expanding=True))
            try:
                with db.connect() as conn:
                    if db.dialect.name == "postgresql":
                        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                    conn.execute(statement, params)
            except SQLAlchemyError as e:
                problems.append(f"{catalog.path}: {key}: does not run on the --db-url database: {database_error(e)}")
    finally:
        db.dispose()
    return problems
