"""The database contract: tests written once, in this package's modules, that take `ledger_url` (through a
fixture of their module) and run in both tiers: a tests/unit module collects them on a SQLite file, a
tests/integration module on a fresh database of a real PostgreSQL server (each tier's conftest.py gives
`ledger_url`). The modules here are not collected themselves (not test_*.py)."""

from __future__ import annotations

import inspect
from types import ModuleType


def database_tests(module: ModuleType, fixture: str) -> dict:
    """`fixture` (the module's fixture on `ledger_url`) and every test of `module` that takes it, by name."""
    found = {fixture: getattr(module, fixture)}
    for name, obj in vars(module).items():
        if name.startswith("test_") and inspect.isfunction(obj) and fixture in inspect.signature(obj).parameters:
            found[name] = obj
    return found
