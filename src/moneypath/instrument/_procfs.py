"""What /proc says about processes and their sockets (Linux; elsewhere every answer is empty): which sockets a
process holds, which of them listen, and a process's parent. Read at a process's start or a first scrape, never on
the hot path."""

from __future__ import annotations

import os

_ACCEPTING = 0x10000  # __SO_ACCEPTCON in /proc/net/unix's Flags: a listening Unix socket


def socket_inodes(pid: int | str) -> set[str]:
    """The inodes of the sockets process `pid` ("self" for this one) holds."""
    found = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                found.add(link[8:-1])
    except OSError:
        pass
    return found


def listening_inodes(tcp_only: bool = False) -> set[str]:
    """The inodes of the listening TCP (and, unless `tcp_only`, Unix) sockets of this network namespace."""
    listening = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as rows:
                listening |= {cols[9] for cols in (row.split() for row in list(rows)[1:]) if cols[3] == "0A"}
        except OSError:
            continue
    if not tcp_only:
        try:
            with open("/proc/self/net/unix") as rows:
                listening |= {cols[6] for cols in (row.split() for row in list(rows)[1:])
                              if len(cols) > 6 and int(cols[3], 16) & _ACCEPTING}
        except (OSError, ValueError):
            pass
    return listening


def parent_of(pid: int | str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def holds_my_listener(pid: int) -> bool:
    """Whether process `pid` holds one of the listening sockets this process holds (a server's supervisor and its
    workers accept on one socket: gunicorn, `uvicorn --workers`, hypercorn)."""
    mine = socket_inodes("self")
    if not mine:
        return False
    mine &= listening_inodes()
    return bool(mine) and bool(socket_inodes(pid) & mine)
