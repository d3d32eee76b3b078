"""A stdout closed by its reader (`| head -1` under `set -o pipefail`) keeps every command's own exit code: the
dispatcher discards what is printed after the reader left, and returns the verdict's 0, 1, 2 or 3, never a 0 for
the broken pipe. In process, on a real pipe whose read end is closed."""

from __future__ import annotations

import io
import os
import sys

import pytest

from moneypath import cli
from moneypath.cli.closed_stdout import Guarded

# The commands that print a verdict, as a user types them; their handlers are replaced by one that prints and
# returns a given code, so the dispatcher's handling is what is measured.
VERDICT_COMMANDS = [
    ("readiness",),
    ("lint",),
    ("canary", "judge", "--canary", 'track="canary"', "--baseline", 'track="baseline"', "--since", "10m"),
    ("drill", "run", "runbooks/drills/approval-rate-drop.yaml"),
    ("drill", "check", "runbooks/drills/approval-rate-drop.yaml"),
    ("loadtest", "loadtests/locustfile.py"),
    ("catalog", "check"),
]


@pytest.fixture
def closed_stdout(monkeypatch):
    """Puts sys.stdout on the write end of a pipe whose reader has gone (fd 1 untouched: pytest's own); call it in
    the test (pytest sets its own capture between a fixture and the test)."""
    streams = []

    def close_it():
        read, write = os.pipe()
        os.close(read)
        streams.append(io.TextIOWrapper(io.FileIO(write, "w")))
        monkeypatch.setattr(sys, "stdout", streams[-1])
        return streams[-1]

    yield close_it
    for stream in streams:
        stream.close()


def _with_handler(monkeypatch, handler):
    real = cli.build_parser

    def build():
        parser = real()
        parse = parser.parse_args

        def parse_args(argv=None, namespace=None):
            args = parse(argv, namespace)
            args.run = handler
            return args

        parser.parse_args = parse_args
        return parser

    monkeypatch.setattr(cli, "build_parser", build)


@pytest.mark.parametrize("command", VERDICT_COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_each_verdict_command_keeps_its_code_when_the_reader_closed_stdout(command, code, closed_stdout,
                                                                            monkeypatch):
    printed_after = []

    def handler(args):
        print("verdict: FAIL", flush=True)  # the reader is gone: this write meets the closed pipe
        print("the rest of the report\n" * 10_000)  # more than any buffer: written (and discarded) before return
        printed_after.append(True)
        return code

    _with_handler(monkeypatch, handler)
    stream = closed_stdout()
    assert cli.main(["--prometheus", "http://127.0.0.1:9", *command]) == code
    assert printed_after, "the command was cut short by the closed pipe"
    assert sys.stdout is stream, "the guard is taken off after the command"


def test_a_closed_pipe_is_found_at_the_last_flush_too(closed_stdout, monkeypatch):
    _with_handler(monkeypatch, lambda args: print("readiness: NOT MEASURED") or 3)  # buffered until the end
    closed_stdout()
    assert cli.main(["readiness"]) == 3


def test_a_real_command_keeps_its_not_measured_verdict(closed_stdout, tmp_path):
    # Nothing on record: every paging alert was never rehearsed, "not measured", exit 3.
    closed_stdout()
    assert cli.main(["--history", str(tmp_path), "readiness"]) == 3


def test_a_broken_pipe_that_is_not_stdout_is_an_error_not_a_pass(monkeypatch, capsys):
    def handler(args):
        raise BrokenPipeError(32, "Broken pipe")  # e.g. a socket to the service, closed under the command

    _with_handler(monkeypatch, handler)
    assert cli.main(["readiness"]) == 1
    assert capsys.readouterr().err == "moneypath: BrokenPipeError: [Errno 32] Broken pipe\n"


def test_the_guard_writes_through_while_the_reader_reads():
    stream = io.StringIO()
    guard = Guarded(stream)
    print("one", file=guard)
    guard.writelines(["two\n", "three\n"])
    guard.flush()
    assert stream.getvalue() == "one\ntwo\nthree\n" and not guard.reader_gone
