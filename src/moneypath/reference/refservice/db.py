"""Database schema and engine (SQLAlchemy Core). SQLite file by default, PostgreSQL by URL.

Money is integer minor units plus an ISO currency. Ledger tables are append-only:
corrections are new entries, never updates.
"""

from __future__ import annotations

import sqlite3
from contextvars import ContextVar
from typing import NotRequired, TypedDict

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
    inspect,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from moneypath.protocol.audit.chain import EVENTS_TABLE, GENESIS, HEAD_TABLE, PENDING_TABLE
from moneypath.reference.refservice.durability import LOG_PAGES_PER_CHECKPOINT

metadata = MetaData()

# How long a SQLite transaction waits for another writer's lock, in ms (busy_timeout). The
# service shortens it for the transactions it runs on its event loop and, when that runs out,
# runs them again in a thread that waits the full time (app.create_app, in_db).
LOCK_WAIT_MS: ContextVar[int] = ContextVar("moneypath_sqlite_lock_wait_ms", default=30_000)


def is_lock_timeout(exc: BaseException) -> bool:
    """SQLite gave up waiting for another writer: nothing of the transaction happened."""
    return isinstance(exc, DBAPIError) and "database is locked" in str(exc.orig)

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

# An amount an operation in flight holds on a payment (a refund, a capture) until it books or
# fails, so concurrent requests never ask the provider for more than the payment allows. It belongs
# to the request's idempotency claim (principal, key) and lapses with that claim's lock.
reservations = Table(
    "reservations", metadata,
    Column("principal", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("payment_id", String(64), nullable=False),
    Column("operation", String(32), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("locked_until", Float, nullable=False),  # the claim's lock: a takeover replaces the reservation
    Index("ix_reservations_payment", "payment_id", "operation"),
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
    Column("risk_decision", String(16)),  # approve | review | decline | hold | allow (fallback when risk was down)
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("captured_at", Float),  # when the capture was booked; reconciliation measures lag from here
    # When a settlement line was matched to it, amount_differs included. A missing_at_provider break
    # leaves it NULL: the capture still counts as unreconciled lag and a late line can still match it.
    Column("reconciled_at", Float),
    Index("ix_payments_provider_ref", "provider", "provider_ref"),
    Index("ix_payments_unreconciled", "reconciled_at", "captured_at")  # equality on NULL first: no scan of settled history,
)

class PaymentRow(TypedDict):
    """A row of `payments` as a booking writes it (payment_state.create completes the NotRequired fields)."""

    id: NotRequired[str]
    principal: str
    kind: str
    state: str
    provider: str
    method: str
    amount_minor: int
    refunded_minor: NotRequired[int]
    currency: str
    reference: str
    provider_ref: str | None
    provider_status: str | None
    risk_decision: NotRequired[str | None]
    created_at: NotRequired[float]
    updated_at: NotRequired[float]


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


# Outbox: written in the transaction that books the money, delivered by a worker afterwards.
outbox_messages = Table(
    "outbox_messages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("queue", String(32), nullable=False),
    Column("event", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", String(200)),
    Column("created_at", Float, nullable=False),
    Index("ix_outbox_due", "next_attempt_at"),
)

dead_letters = Table(
    "dead_letters", metadata,
    Column("id", Integer, primary_key=True),  # the outbox message id
    Column("queue", String(32), nullable=False),
    Column("event", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(200)),
    Column("created_at", Float, nullable=False),
    Column("dead_at", Float, nullable=False),
)

# What the consumers did with each message; the unique key makes redelivery harmless.
deliveries = Table(
    "deliveries", metadata,
    Column("queue", String(32), primary_key=True),
    Column("message_id", Integer, primary_key=True),
    Column("event", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("delivered_at", Float, nullable=False),
)

settlement_files = Table(
    "settlement_files", metadata,
    Column("name", String(255), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("lines", Integer, nullable=False),
    Column("error", String(200)),  # set when the file could not be read; it is not retried
    Column("imported_at", Float, nullable=False),
)

settlement_lines = Table(
    "settlement_lines", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file", String(255), ForeignKey("settlement_files.name"), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("provider_ref", String(128), nullable=False),
    Column("reference", String(128), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(32), nullable=False),
    Column("imported_at", Float, nullable=False),
    Column("state", String(16), nullable=False, default="open"),  # open | matched | break
    Column("payment_id", String(64)),
    Index("ix_settlement_lines_open", "state"),
)

# Differences found by reconciliation, each recorded (and counted) once.
reconciliation_breaks = Table(
    "reconciliation_breaks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider", String(32), nullable=False),
    Column("kind", String(32), nullable=False),  # missing_in_ledger | missing_at_provider | amount_differs | duplicate
    Column("subject", String(128), nullable=False),  # settlement line id, or payment id for missing_at_provider
    Column("provider_ref", String(128)),
    Column("payment_id", String(64)),
    Column("amount_minor", BigInteger),
    Column("currency", String(3)),
    Column("detail", String(200), nullable=False),
    Column("found_at", Float, nullable=False),
    UniqueConstraint("kind", "subject", name="uq_break_once"),
)

# The audit trail (moneypath.reference.refservice.audit.trail): one event per state change of a financial
# record, appended in the transaction that makes the change, hash-chained (moneypath.protocol.audit.chain).
audit_events = Table(
    EVENTS_TABLE, metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # the chain's order: 1, 2, 3, ...
    Column("at", Float, nullable=False),
    Column("actor", String(80), nullable=False),  # token subject, system:<job> or provider:<name>
    Column("scope", String(64), nullable=False),  # the scope that allowed it ("" for jobs and webhooks)
    Column("correlation_id", String(64), nullable=False),
    Column("entity", String(16), nullable=False),  # payment | payout
    Column("entity_id", String(64), nullable=False),
    Column("action", String(16), nullable=False),  # authorize | payout | capture | refund | reconcile
    Column("before", Text),  # the record's changed fields before (canonical JSON), NULL when created
    Column("after", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_entity", "entity_id"),
)

# One row (id 1): the last seq and its hash. Appends lock it (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
# BEGIN IMMEDIATE already serializes writers), which keeps the chain linear; verification compares the
# chain's end with it, so deleting the newest events is caught too.
audit_head = Table(
    HEAD_TABLE, metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)


# Events a PostgreSQL booking parked because another transaction was chaining (audit.py): the chain's next holder
# or the sealer moves them into audit_events in id order. Empty on SQLite (one writer: every event is chained at
# once). `tail`: the event's hashed JSON without the seq (moneypath.protocol.audit.chain.event_tail), from which the holder's
# statement hashes it; NULL in a row parked by a service of an earlier version (added to an older table by
# _create_schema), which the holder chains from the fields in Python.
audit_pending = Table(
    PENDING_TABLE, metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("scope", String(64), nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("entity", String(16), nullable=False),
    Column("entity_id", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("before", Text),
    Column("after", Text, nullable=False),
    Column("tail", Text),
)


def make_engine(url: str = "sqlite:///moneypath-ledger.db", durable: bool = True) -> Engine:
    """An engine with the schema created. SQLite gets WAL and a busy timeout so concurrent
    requests wait for the writer instead of failing.

    durable=True (bookings): a commit returns once it is on disk (SQLite synchronous=FULL, which
    in WAL mode syncs the log at every commit; PostgreSQL's default synchronous_commit=on), so an
    acknowledged payment survives kill -9 and power loss alike. durable=False (idempotency claims,
    which are no effect yet): a commit is atomic and visible at once but may be synced later
    (synchronous=NORMAL / synchronous_commit=off). A power cut can then forget a claim taken just
    before it — harmless: nothing was booked or acknowledged, the client's retry claims again and
    the provider deduplicates its call by the same key — and it never forgets one that a durable
    commit followed, because syncing the log syncs everything written before. A process kill
    loses nothing either way: the log is in the operating system's hands as soon as commit returns.
    This halves the syncs per authorization (one instead of two)."""
    sqlite = url.startswith("sqlite")
    if sqlite:
        connect_args: dict = {"timeout": 30}
    elif not durable and url.startswith("postgresql"):
        connect_args = {"options": "-c synchronous_commit=off"}
    else:
        connect_args = {}
    # LIFO on a SQLite file: the connection used last is taken again, so its page cache is still valid (one
    # that another connection wrote after must re-read the pages it touches).
    lifo = sqlite and url not in ("sqlite://", "sqlite:///:memory:")
    engine = create_engine(url, connect_args=connect_args, **({"pool_use_lifo": True} if lifo else {}))
    if sqlite:
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, record):
            dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" hook below issues BEGIN
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            cursor.execute(f"PRAGMA wal_autocheckpoint={LOG_PAGES_PER_CHECKPOINT}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={LOCK_WAIT_MS.get()}")
            cursor.close()
            record.info["busy_ms"] = LOCK_WAIT_MS.get()

        @event.listens_for(engine, "begin")
        def _immediate(conn):
            # Take the write lock at BEGIN: a read-then-write transaction can then never fail
            # with "database is locked" half way through. (On the driver's connection: through
            # SQLAlchemy's execution path these cost more than the insert that follows.)
            driver, info, wait_ms = conn.connection.driver_connection, conn.connection.info, LOCK_WAIT_MS.get()
            try:
                if info.get("busy_ms") != wait_ms:
                    driver.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
                    info["busy_ms"] = wait_ms
                driver.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc

    _create_schema(engine)
    _seed_audit_head(engine)
    return engine


def make_reader(url: str) -> Engine:
    """An engine for long reads beside the writers (the audit chain's walk): on SQLite without make_engine's
    BEGIN IMMEDIATE (a WAL reader neither waits for the writer nor holds it up) and query-only; on PostgreSQL
    in read-only transactions. Its tables exist: make_engine created them."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _query_only(dbapi_connection, record):
            dbapi_connection.execute("PRAGMA query_only=ON")

        return engine
    options = {"options": "-c default_transaction_read_only=on"} if url.startswith("postgresql") else {}
    return create_engine(url, connect_args=options)


# Held while the schema is created on PostgreSQL: instances starting together (`up --instances`) would otherwise
# race in CREATE TABLE, and the loser fails on a duplicate type even though the table then exists.
_SCHEMA_LOCK = 0x6D6F6E6579  # "money"


def _create_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        metadata.create_all(conn)
        # a table created before its tail column (audit_pending): add it (NULL in the rows it has)
        if "tail" not in {c["name"] for c in inspect(conn).get_columns(PENDING_TABLE)}:
            conn.execute(text(f"ALTER TABLE {PENDING_TABLE} ADD COLUMN tail TEXT"))


def _seed_audit_head(engine: Engine) -> None:
    """The chain's head row, once (another process starting at the same time may insert it first)."""
    with engine.connect() as conn:
        if conn.execute(audit_head.select().where(audit_head.c.id == 1)).first() is not None:
            return
    try:
        with engine.begin() as conn:
            conn.execute(audit_head.insert().values(id=1, seq=0, hash=GENESIS))
    except IntegrityError:
        pass
