"""The modules made internal (a leading underscore) keep their old names for one release, with a
DeprecationWarning: each old name is a module of two lines that calls `moved(__name__)`."""

from __future__ import annotations

import importlib
import sys
import warnings

# The old public-looking name → the internal module that holds its code now.
MOVED = {name: f"_{name}" for name in (
    "correlation", "failures", "families", "logs", "multiproc", "null", "prometheus_backend", "requirements",
    "signals", "timeouts", "timers", "tracing", "web_signals")}


def moved(old: str) -> None:
    """Warn where `old` was imported, then put the internal module in its place in `sys.modules`: the import
    returns that module itself, so every name (and monkeypatching one) works as before."""
    package, _, name = old.rpartition(".")
    new = f"{package}.{MOVED[name]}"
    warnings.warn(f"{old} is internal now ({new}) and goes in the next release: import the names of "
                  f"{package}.__all__ from {package}", DeprecationWarning, stacklevel=3)
    sys.modules[old] = importlib.import_module(new)
