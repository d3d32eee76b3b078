"""A stdout its reader closed early (`moneypath readiness | head -1`) never changes a command's exit code.

While a command runs, sys.stdout is a `Guarded` stream: the first write or flush that meets a closed pipe points
stdout's file descriptor at /dev/null (the recipe of Python's signal documentation, "Note on SIGPIPE"), so what the
command prints after that is discarded and it runs to its own end: its verdict's code (0, 1, 2, 3) is the exit
code, as `set -o pipefail` in a CI step expects, never a 0 for a broken pipe.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Any


class Guarded:
    """A text stream that discards its output once the reader has gone; every other attribute is the stream's."""

    def __init__(self, stream: Any):
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._discard()
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._discard()

    def _discard(self) -> None:
        """From now on nothing reaches the reader: stdout's descriptor is /dev/null, so what the stream still holds
        (and the interpreter's flush at exit) goes there instead of raising again."""
        self.reader_gone = True
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a file (a test's capture): discarding is enough
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
        try:
            self._stream.flush()
        except OSError:
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def guarded_stdout():
    """sys.stdout guarded for the block, flushed at its end (a closed pipe there discarded too)."""
    stream = sys.stdout
    guard = Guarded(stream)
    sys.stdout = guard
    try:
        yield guard
    finally:
        guard.flush()
        if sys.stdout is guard:
            sys.stdout = stream
