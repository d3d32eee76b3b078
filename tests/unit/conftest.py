import pytest


@pytest.fixture
def ledger_url(tmp_path):
    """The ledger database of this tier: a SQLite file (tests/integration runs the same tests on PostgreSQL)."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"
