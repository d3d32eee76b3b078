"""The exit codes of every `moneypath` command and entry point (`ExitCode`), defined here and nowhere else.

What each means to a user: docs/cli/index.md, "Exit codes". tests/unit/test_exit_codes.py fails on an exit code
defined elsewhere or a command exiting with a bare number.
"""
from __future__ import annotations

import signal
from enum import IntEnum


class ExitCode(IntEnum):
    """An int: returned by a command, passed to sys.exit, compared with a process's returncode."""

    PASS = 0  # every verdict passed (or the command did what it was asked)
    FAIL = 1  # a check, gate or objective failed; an error with no better code
    USAGE = 2  # bad usage or bad input: one line naming what is wrong
    NOT_MEASURED = 3  # nothing failed, but a verdict rests on what was not measured
    INTERRUPTED = 130  # Ctrl-C, as the shell reports a process SIGINT ended
    TERMINATED = 128 + signal.SIGTERM  # SIGTERM (CI, systemd, timeout), as the shell reports it
