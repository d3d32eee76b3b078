"""Database schema and engine (SQLAlchemy Core). SQLite file by default, PostgreSQL by URL.

Money is integer minor units plus an ISO currency. Ledger tables are append-only:
corrections are new entries, never updates.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("principal", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("operation", String(32), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # in_progress | completed
    Column("locked_until", Float, nullable=False),  # an in_progress claim is recoverable after this
    Column("response_status", Integer),
    Column("response_body", Text),
    Column("created_at", Float, nullable=False),
    Column("completed_at", Float),
)

payments = Table(
    "payments", metadata,
    Column("id", String(64), primary_key=True),
    Column("principal", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # payment | payout
    Column("state", String(16), nullable=False),  # authorized | declined | failed | captured | refunded | paid
    Column("provider", String(32), nullable=False),
    Column("method", String(32), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False, default=0),
    Column("currency", String(3), nullable=False),
    Column("reference", String(128), nullable=False),
    Column("provider_ref", String(128)),
    Column("provider_status", String(32)),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

webhook_events = Table(
    "webhook_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider", String(32), nullable=False),
    Column("event", String(64), nullable=False),
    Column("provider_ref", String(128), nullable=False),
    Column("body", Text, nullable=False),
    Column("received_at", Float, nullable=False),
    # A provider may deliver the same event twice: the second one is acknowledged, not applied.
    UniqueConstraint("provider", "event", "provider_ref", name="uq_webhook_event"),
)

ledger_transactions = Table(
    "ledger_transactions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("payment_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_ledger_transactions_payment", "payment_id"),
)

ledger_postings = Table(
    "ledger_postings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("transaction_id", Integer, ForeignKey("ledger_transactions.id"), nullable=False),
    Column("account", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),  # debit > 0, credit < 0
    UniqueConstraint("transaction_id", "account", "currency", name="uq_posting_per_account"),
)


def make_engine(url: str = "sqlite:///moneypath-ledger.db") -> Engine:
    """An engine with the schema created. SQLite gets WAL and a busy timeout so concurrent
    requests wait for the writer instead of failing."""
    engine = create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" hook below issues BEGIN
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _immediate(conn):
            # Take the write lock at BEGIN: a read-then-write transaction can then never fail
            # with "database is locked" half way through.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    metadata.create_all(engine)
    return engine
