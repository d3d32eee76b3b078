"""SIGTERM ends a command the way Ctrl-C does. CI, systemd, `timeout` and kubectl stop a process with SIGTERM,
whose default kills it on the spot: a load test's Locust and the stack it started, or a drill's fault, would be
left behind. Inside `terminate_as_interrupt()` SIGTERM raises Terminated, a KeyboardInterrupt, in the main
thread, so every cleanup written for Ctrl-C runs for it too (the command then exits ExitCode.TERMINATED)."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: raised where the main thread was, caught wherever Ctrl-C is."""


@contextmanager
def terminate_as_interrupt():
    """SIGTERM raises Terminated while the block runs (once: a second SIGTERM must not cut the cleanup short);
    the previous handler is back after it. Outside the main thread signals cannot be handled: nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def on_sigterm(signum, frame):
        nonlocal raised
        if not raised:  # a function, not SIG_IGN: a process started during the cleanup must not inherit the ignore
            raised = True
            raise Terminated("SIGTERM")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
