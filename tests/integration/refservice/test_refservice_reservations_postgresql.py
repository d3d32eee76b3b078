"""tests/support/database/reservations.py (amounts held before the provider is asked) on a real PostgreSQL
server, a fresh database per test: the service runs its transactions in 16 threads, so the row lock is what keeps
them apart."""

from tests.support.database import database_tests
from tests.support.database import reservations as contract

globals().update(database_tests(contract, "service"))
