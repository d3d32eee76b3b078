"""free_port: a loopback port below the kernel's ephemeral range (never one an outgoing connection takes in the
meantime), free for TCP and UDP; one taken either way is passed over."""

from __future__ import annotations

import socket

from moneypath.stack import processes


def test_a_free_port_is_below_the_ephemeral_range_and_bindable():
    low = processes._ephemeral_low()
    for _ in range(20):
        port = processes.free_port()
        assert processes.PORTS_FROM <= port < low
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_port_taken_for_tcp_or_udp_is_passed_over(monkeypatch):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        udp.bind(("127.0.0.1", 0))
        tcp.bind(("127.0.0.1", 0))
        taken = [udp.getsockname()[1], tcp.getsockname()[1]]
        free = processes.free_port()
        picks = iter([*taken, free])
        monkeypatch.setattr(processes.random, "randrange", lambda *_: next(picks))
        assert processes.free_port() == free
