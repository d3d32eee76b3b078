"""A Locust process dies with the moneypath process that started it, even one killed with `kill -9`.

`moneypath loadtest` (its master and local workers) and `moneypath loadtest-worker` start Locust in sessions of
their own (so that a stop reaches a process group, never their caller's terminal). A parent killed with SIGKILL
runs no cleanup: its Locust children would go on sending load, unseen. Two guards (`popen_kwargs` at the spawn,
`arm` in the harness every Locust process imports):

- on Linux, prctl(PR_SET_PDEATHSIG, SIGTERM) between fork and exec (it survives exec): the kernel sends SIGTERM the
  moment the parent dies, also while Locust is still importing. The "parent" is the thread that forked the child,
  so it is set only when the spawn runs on the main thread, which lives as long as the process;
- everywhere, a watchdog on a real OS thread (not a greenlet: it must run while the event loop is busy) that sees
  the parent pid (ENV) change (the orphan is re-parented), sends SIGTERM to its own process (Locust stops its users
  and tells its master it quit), and exits hard GRACE_S later if Locust has not.

Either way the process is gone within a few seconds of its parent's death (POLL_S + GRACE_S at the most once the
harness is imported).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

ENV = "MONEYPATH_PARENT_PID"
POLL_S = 0.25
GRACE_S = 2.5
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def popen_kwargs(env: dict[str, str]) -> dict:
    """subprocess.Popen's env and preexec_fn for a Locust child of this process (see the module's doc)."""
    out = {"env": {**env, ENV: str(os.getpid())}}
    if sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread():
        out["preexec_fn"] = _deathsig_hook(os.getpid())
    return out


def _deathsig_hook(parent: int):
    """What runs in the child between fork and exec: nothing but the prctl call, resolved before the fork."""
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # no prctl: the watchdog alone
        return None

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the call: nobody would send the signal
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def arm(environ=os.environ) -> bool:
    """In a Locust process started with popen_kwargs: the watchdog. False when no parent was named (plain
    `locust`, which its own user stops)."""
    try:
        parent = int(environ.get(ENV, ""))
    except ValueError:
        return False
    start, sleep = _real_thread()
    start(_watch, (parent, sleep))
    return True


def _real_thread():
    """(start_new_thread, sleep) of the OS, also in a gevent-patched process."""
    try:
        from gevent import monkey

        return monkey.get_original("_thread", "start_new_thread"), monkey.get_original("time", "sleep")
    except ImportError:
        import _thread
        import time

        return _thread.start_new_thread, time.sleep


def _watch(parent: int, sleep) -> None:
    while os.getppid() == parent:
        sleep(POLL_S)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
    finally:
        sleep(GRACE_S)
        os._exit(1)
