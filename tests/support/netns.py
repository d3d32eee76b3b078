"""Hosts of a test's own on this machine: network namespaces joined to the test's process by a bridge of veth pairs
(iproute2, as root), so a process inside one reaches the test's side over an address that is not loopback, as
another machine would. The bridge holds only the test's veth ends: nothing it carries leaves the machine. Everything
made is removed on the way out, whatever happened."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Hosts:
    address: str  # the test's side (the bridge), reachable from every namespace
    namespaces: tuple[str, ...]
    addresses: tuple[str, ...]  # each namespace's own address

    def run(self, i: int, argv: list[str]) -> list[str]:
        """argv run inside namespace i."""
        return ["ip", "netns", "exec", self.namespaces[i], *argv]


def unavailable() -> str | None:
    """Why namespaces cannot be made here (for a skip), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextmanager
def hosts(count: int) -> Iterator[Hosts]:
    """`count` namespaces on a bridge of this process's own: 10.213.<n>.1 on the bridge, .2, .3 ... inside."""
    tag = f"{os.getpid() % 10000}"
    subnet = f"10.213.{os.getpid() % 250 + 1}"
    bridge, names = f"mpbr{tag}", tuple(f"mpns{tag}-{i}" for i in range(count))
    made: list[tuple[str, ...]] = []  # what to delete, newest last
    try:
        _ip("link", "add", bridge, "type", "bridge")
        made.append(("link", "del", bridge))
        _ip("addr", "add", f"{subnet}.1/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for i, name in enumerate(names):
            outer, inner = f"mpv{tag}o{i}", f"mpv{tag}i{i}"
            _ip("netns", "add", name)
            made.append(("netns", "del", name))
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            made.append(("link", "del", outer))
            _ip("link", "set", inner, "netns", name)
            _ip("link", "set", outer, "master", bridge)
            _ip("link", "set", outer, "up")
            for args in (("addr", "add", f"{subnet}.{i + 2}/24", "dev", inner), ("link", "set", inner, "up"),
                         ("link", "set", "lo", "up")):
                _ip("-n", name, *args)
        yield Hosts(f"{subnet}.1", names, tuple(f"{subnet}.{i + 2}" for i in range(count)))
    finally:
        for args in reversed(made):
            subprocess.run(["ip", *args], capture_output=True, timeout=10)


def leftovers() -> list[str]:
    """This process's namespaces still present (none, after `hosts`)."""
    tag = f"mpns{os.getpid() % 10000}-"
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(tag)]
