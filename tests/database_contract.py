"""A unit module's database tests, collected again by an integration module: the contract is written once in
tests/unit, where `ledger_url` is a SQLite file, and runs on PostgreSQL in tests/integration, where it is a real
server's database."""

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
