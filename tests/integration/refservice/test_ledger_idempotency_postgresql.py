"""tests/support/database/ledger_idempotency.py (balanced postings, idempotency keys, the outbox) on a real PostgreSQL
server, a fresh database per test."""

from tests.support.database import database_tests
from tests.support.database import ledger_idempotency as contract

globals().update(database_tests(contract, "engine"))
