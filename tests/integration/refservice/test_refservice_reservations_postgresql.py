"""tests/unit/refservice/test_refservice_reservations.py (amounts held before the provider is asked) on a real PostgreSQL
server, a fresh database per test: the service runs its transactions in 16 threads, so the row lock is what keeps
them apart."""

from tests.database_contract import database_tests
from tests.unit.refservice import test_refservice_reservations as unit

globals().update(database_tests(unit, "service"))
