"""tests/support/database/audit_cli.py (`moneypath audit verify --db URL`) on a real PostgreSQL server, a fresh database
per test."""

from tests.support.database import audit_cli as contract
from tests.support.database import database_tests

globals().update(database_tests(contract, "ledger"))
