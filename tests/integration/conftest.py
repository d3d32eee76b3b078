import pytest


@pytest.fixture
def ledger_url(pg_url):
    """The ledger database of this tier: a fresh database on a real PostgreSQL server (SQLite in tests/unit)."""
    return pg_url
