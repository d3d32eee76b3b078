"""Amount-limited operations hold their amount before the provider is asked (the contract in
tests/support/database/reservations.py), on SQLite here and on a real PostgreSQL server in
tests/integration/refservice/test_refservice_reservations_postgresql.py."""

from __future__ import annotations

from tests.support.database import database_tests
from tests.support.database import reservations as contract

globals().update(database_tests(contract, "service"))  # the database contract, collected here on SQLite
