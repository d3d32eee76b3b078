"""SIGTERM ends a command as Ctrl-C does (moneypath._common.interrupt): the cleanup written for Ctrl-C runs,
a second SIGTERM does not cut it short, and the command ends with one line and 143."""

from __future__ import annotations

import argparse
import os
import signal

import pytest

from moneypath import cli
from moneypath._common.exit_codes import ExitCode
from moneypath._common.interrupt import Terminated, terminate_as_interrupt


def test_sigterm_raises_once_in_the_block_and_the_previous_handler_is_back_after_it():
    before = signal.getsignal(signal.SIGTERM)
    cleaned = []
    with pytest.raises(Terminated) as caught, terminate_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()  # not reached: the handler raises on delivery
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # a second one, while cleaning up: ignored
            cleaned.append(True)
    assert isinstance(caught.value, KeyboardInterrupt) and cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_command_ended_by_sigterm_cleans_up_and_says_so_in_one_line(monkeypatch, capsys):
    stopped = []

    def run(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()
        finally:
            stopped.append("what the command started")
        return 0

    parser = argparse.ArgumentParser()
    parser.set_defaults(run=run, command="x")
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    assert cli.main([]) == ExitCode.TERMINATED == 143
    assert stopped == ["what the command started"]
    assert capsys.readouterr().err == "moneypath: terminated (SIGTERM)\n"
