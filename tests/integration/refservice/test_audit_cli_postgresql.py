"""tests/unit/refservice/test_audit_cli.py (`moneypath audit verify --db URL`) on a real PostgreSQL server, a fresh database
per test."""

from tests.database_contract import database_tests
from tests.unit.refservice import test_audit_cli as unit

globals().update(database_tests(unit, "ledger"))
