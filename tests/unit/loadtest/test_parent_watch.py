"""What a Locust child is given to die with its parent (moneypath.loadtest.in_locust.parent_watch); the kill itself is
tests/integration/loadtest/test_worker_kill.py."""

from __future__ import annotations

import os
import sys
import threading

from moneypath.loadtest.in_locust import parent_watch


def test_a_child_is_told_its_parent_and_the_kernel_watches_it_from_the_main_thread():
    kwargs = parent_watch.popen_kwargs({"PATH": "/bin"})
    assert kwargs["env"] == {"PATH": "/bin", parent_watch.ENV: str(os.getpid())}
    assert callable(kwargs.get("preexec_fn")) == sys.platform.startswith("linux")


def test_from_another_thread_only_the_watchdog_guards_it():
    """PR_SET_PDEATHSIG fires when the forking thread ends: a spawn off the main thread must not ask for it."""
    found = {}
    thread = threading.Thread(target=lambda: found.update(parent_watch.popen_kwargs({})))
    thread.start()
    thread.join()
    assert "preexec_fn" not in found and found["env"][parent_watch.ENV] == str(os.getpid())


def test_a_locust_started_by_hand_is_left_alone():
    assert parent_watch.arm({}) is False
    assert parent_watch.arm({parent_watch.ENV: "not a pid"}) is False
