"""moneypath.check.runbooks against a real PostgreSQL server and the real promtool (the rest:
tests/unit/check/test_runbooks.py)."""

from __future__ import annotations

import shutil

import pytest

from moneypath.check.ledger_queries import check_ledger_queries
from moneypath.check.runbooks import check_runbooks, open_database
from tests.support.runbooks import DUP, edit, statements_sent

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")


def test_sql_is_prepared_read_only_on_postgresql(catalog, root, pg_url):
    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError

    from moneypath.reference.refservice.db import metadata

    engine = create_engine(pg_url)
    metadata.create_all(engine)
    engine.dispose()
    assert check_runbooks(catalog, root, promtool=False, db_url=pg_url) == []
    assert check_ledger_queries(catalog, pg_url) == []  # EXPLAIN with bound :ids and :since on PostgreSQL too

    edit(root, DUP, "FROM reconciliation_breaks WHERE kind", "FROM reconciliation_break WHERE kind", 2)
    q = "SELECT payment_id, COUNT(*) AS captures FROM ledger_transactions WHERE kind = 'capture' GROUP BY payment_id " \
        "HAVING COUNT(*) > 1"
    edit(root, DUP, q, "WITH gone AS (DELETE FROM payments RETURNING id) SELECT COUNT(*) FROM gone", 2)
    with statements_sent() as seen:
        problems = check_runbooks(catalog, root, promtool=False, db_url=pg_url)
    assert problems == [
        f"{DUP}: diagnosis.3.sql: does not run on the --db-url database: relation \"reconciliation_break\" does not exist",
        f"{DUP}: diagnosis.4.sql: diagnosis queries are one read-only statement (SELECT or WITH)"]
    assert any("reconciliation_break " in s for s in seen) and not [s for s in seen if "DELETE" in s]

    readonly = open_database(pg_url)
    with readonly.connect() as conn:
        assert conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "on"
        with pytest.raises(DBAPIError, match="read-only transaction"):
            conn.exec_driver_sql("CREATE TABLE mischief (a integer)")
    readonly.dispose()


@needs_promtool
def test_promql_that_does_not_parse_is_reported_by_one_promtool_run(catalog, root):
    q = "sum by (provider) (increase(moneypath_duplicate_charges_total[1h]))"
    edit(root, DUP, q, q[:-1], 2)
    rel = "runbooks/moneypathledgerwritefailures.md"
    edit(root, rel, "sum by (outcome) (rate(moneypath_ledger_writes_total[5m]))",
         "sum by (outcome) (rate(moneypath_ledger_writes_total[5m])) +", 2)
    assert sorted(check_runbooks(catalog, root)) == [
        f"{DUP}: diagnosis.0.promql: promtool: could not parse expression: 1:67: parse error: unclosed left parenthesis",
        f"{rel}: diagnosis.1.promql: promtool: could not parse expression: 1:61: parse error: unexpected end of input"]
