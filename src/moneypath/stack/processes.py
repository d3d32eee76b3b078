"""The local stack's processes: free ports, binaries on PATH, whether a part runs, answers, or is gone."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import time
from pathlib import Path

import httpx

from moneypath.stack.state import Part, StackError

PORTS_FROM = 20_000  # free_port's lowest; the ephemeral range starts at 32,768 by default


def free_port() -> int:
    """A loopback port free for TCP and UDP, below the kernel's ephemeral range: a port the kernel picked (bind to
    0) is one it hands out again as the source port of outgoing connections, and a stack starts its parts seconds
    after choosing their ports, beside load tests opening thousands of connections (an Alertmanager found its
    cluster port taken in CI).

    The ports come in turn from a random start, so one process never gets the same port twice until it has gone
    round ~12,000 of them (the ports of one stack are chosen before any is bound: a random choice each time
    repeated itself in CI and gave refservice its own port for metrics), and two processes (pytest's workers)
    meet only if their turns reach the same ports at the same moment."""
    global _next, _turn_pid
    low = _ephemeral_low()
    if _next is None or _turn_pid != os.getpid():  # a forked child starts a turn of its own
        _next, _turn_pid = random.randrange(PORTS_FROM, low), os.getpid()
    for _ in range(200):
        port = PORTS_FROM + (_next - PORTS_FROM) % (low - PORTS_FROM)
        _next = port + 1
        if _bindable(port):
            return port
    with socket.socket() as s:  # 200 taken in a row: the kernel's choice
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_next: int | None = None  # where free_port's turn is in this process
_turn_pid = 0  # the process whose turn _next is


def _ephemeral_low() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768  # Linux's default
    return max(low, PORTS_FROM + 1_000)


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):  # Alertmanager's gossip binds both
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def find_binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise StackError(f"{names[0]} not found: install the Debian package (`make setup` does)")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

def healthy(part: Part) -> bool:
    if part.url.startswith("postgresql://"):  # no HTTP: healthy while it accepts connections
        host, port = part.url.removeprefix("postgresql://").rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            return True
        except OSError:
            return False
    try:
        return httpx.get(part.url + part.health_path, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False

def last_line(log: str) -> str:
    """The last line a part wrote (its error, when it exited at start)."""
    try:
        lines = [line for line in Path(log).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1].strip()[:300] if lines else "nothing in its log"


def gone(pid: int) -> bool:
    """Exited: reaped here when it is this process's child (`up` ran in it), else no longer running; a zombie
    whose parent is another process (it answers signal 0 like a live one) is gone too. A child whose first
    thread is a zombie while the others still exit is not yet gone: waitpid says so."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not alive(pid) or _zombie(pid)
    return bool(reaped) or not alive(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop_groups(parts: list[Part], timeout_s: float, progress=None) -> None:
    """SIGTERM each running part's process group, wait up to `timeout_s` in all for them to be gone, SIGKILL
    what is left; `progress(part)` after each part, running or not."""
    for part in parts:
        if alive(part.pid):
            _signal_group(part.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for part in parts:
        while not gone(part.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not gone(part.pid):
            _signal_group(part.pid, signal.SIGKILL)
            reap(part.pid)
        if progress is not None:
            progress(part)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
