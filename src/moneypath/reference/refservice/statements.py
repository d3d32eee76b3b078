"""Statements of the payment hot path: written with SQLAlchemy Core, compiled once per dialect, run on the
transaction's driver connection.

SQLAlchemy's execution path (execution context, result wrapping, cache-key lookup) costs more Python than
the statements themselves, and a capture runs about a dozen of them. A `Prepared` keeps Core for what it
is good at — the statement, its dialect's SQL and parameter style — and hands the driver the compiled string.
What it gives up is nothing these statements use: bind/result type processing (their columns are strings,
integers and floats, which both drivers take and return as they are) and column defaults (callers pass every
value). Errors come back as SQLAlchemy's exception classes (IntegrityError, OperationalError), as from
`Connection.execute`, so callers and `db.is_lock_timeout` see no difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

T = TypeVar("T")


def padded(values: Sequence[T]) -> list[T]:
    """`values` for an IN list, its length rounded up to a power of two by repeating the last one (same rows).

    Each length of an IN list is a statement text of its own: SQLite's driver keeps the last 128 prepared per
    connection, so lists whose length follows the data would fill every writer connection's cache with variants,
    push the hot path's statements out and grow memory with the run. Powers of two: at most log2(n) + 1 texts
    per statement."""
    if not values:
        return list(values)
    size = 1 << (len(values) - 1).bit_length()
    return [*values, *[values[-1]] * (size - len(values))]


class Prepared:
    """`Prepared(core_statement)`; then `.first(conn, params)`, `.scalar(...)`, `.count(...)`
    (rows changed) or `.many(conn, [params, ...])` inside the caller's transaction."""

    __slots__ = ("statement", "_compiled")

    def __init__(self, statement: Executable):
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def _for(self, conn: Connection) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        dialect = conn.dialect
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            # literal values in the statement (state = 'in_progress') are binds of their own, with their values
            literals = {name: value for name, value in compiled.params.items() if value is not None}
            order = tuple(compiled.positiontup) if compiled.positional else None
            found = self._compiled[dialect.name] = (compiled.string, order, literals)
        return found

    def _args(self, order, literals, params: Mapping[str, Any]):
        values = {**literals, **params} if literals else params
        return [values[name] for name in order] if order is not None else values

    @staticmethod
    def run(conn: Connection, sql: str, args, how: str = "execute"):
        """cursor.execute (or executemany) of SQL compiled already (audit.Audited's too), the driver's errors
        raised as SQLAlchemy's; the cursor."""
        cursor = conn.connection.driver_connection.cursor()
        try:
            getattr(cursor, how)(sql, args)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(sql, args, exc, conn.dialect.loaded_dbapi.Error) from exc
        return cursor

    def _cursor(self, conn: Connection, params: Mapping[str, Any]):
        sql, order, literals = self._for(conn)
        return self.run(conn, sql, self._args(order, literals, params))

    def first(self, conn: Connection, params: Mapping[str, Any] = {}) -> dict[str, Any] | None:  # noqa: B006
        cursor = self._cursor(conn, params)
        row = cursor.fetchone()
        return None if row is None else dict(zip([column[0] for column in cursor.description], row))

    def scalar(self, conn: Connection, params: Mapping[str, Any] = {}) -> Any:  # noqa: B006
        row = self._cursor(conn, params).fetchone()
        return None if row is None else row[0]

    def count(self, conn: Connection, params: Mapping[str, Any] = {}) -> int:  # noqa: B006
        return self._cursor(conn, params).rowcount

    def many(self, conn: Connection, params: Iterable[Mapping[str, Any]]) -> None:
        sql, order, literals = self._for(conn)
        self.run(conn, sql, [self._args(order, literals, one) for one in params], "executemany")
