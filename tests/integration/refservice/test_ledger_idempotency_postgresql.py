"""tests/unit/refservice/test_ledger_idempotency.py (balanced postings, idempotency keys, the outbox) on a real PostgreSQL
server, a fresh database per test."""

from tests.database_contract import database_tests
from tests.unit.refservice import test_ledger_idempotency as unit

globals().update(database_tests(unit, "engine"))
