"""Runbook pages for tests: a copy of the shipped ones to edit (the `root` fixture), and the SQL a check sends."""

from __future__ import annotations

import contextlib
import shutil

import pytest

from tests.conftest import ROOT


@contextlib.contextmanager
def statements_sent():
    """Every SQL statement any engine sends to a database inside the block."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


DUP = "runbooks/moneypathduplicatechargedetected.md"


@pytest.fixture
def root(tmp_path):
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    return tmp_path


def edit(root, rel, old, new, count=1):
    path = root / rel
    text = path.read_text()
    assert text.count(old) >= count, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new))
