"""free_port: a loopback port below the kernel's ephemeral range (never one an outgoing connection takes in the
meantime), free for TCP and UDP; one taken either way is passed over, and one process never gets a port twice."""

from __future__ import annotations

import os
import socket

from moneypath.stack import processes


def test_a_free_port_is_below_the_ephemeral_range_and_bindable():
    low = processes._ephemeral_low()
    for _ in range(20):
        port = processes.free_port()
        assert processes.PORTS_FROM <= port < low
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_ports_chosen_before_any_is_bound_are_all_different():
    ports = [processes.free_port() for _ in range(500)]  # nothing binds them meanwhile, as a stack chooses its own
    assert len(set(ports)) == len(ports)


def test_the_turn_wraps_round_below_the_ephemeral_range(monkeypatch):
    monkeypatch.setattr(processes, "_next", processes._ephemeral_low() - 1)
    monkeypatch.setattr(processes, "_turn_pid", os.getpid())
    ports = [processes.free_port() for _ in range(3)]
    assert all(processes.PORTS_FROM <= p < processes._ephemeral_low() for p in ports)
    assert any(p < processes.PORTS_FROM + 10 for p in ports)


def test_a_port_taken_for_tcp_or_udp_is_passed_over(monkeypatch):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        start = next(p for p in range(processes.PORTS_FROM, 32_000) if all(processes._bindable(p + i) for i in range(3)))
        udp.bind(("127.0.0.1", start))
        tcp.bind(("127.0.0.1", start + 1))
        monkeypatch.setattr(processes, "_next", start)
        monkeypatch.setattr(processes, "_turn_pid", os.getpid())
        assert processes.free_port() == start + 2


def test_a_forked_child_starts_a_turn_of_its_own(monkeypatch):
    processes.free_port()
    monkeypatch.setattr(processes, "_turn_pid", -1)  # as in a child forked after the parent's first pick
    monkeypatch.setattr(processes.random, "randrange", lambda *_: processes.PORTS_FROM + 7)
    start = next(p for p in range(processes.PORTS_FROM + 7, 32_000) if processes._bindable(p))
    assert processes.free_port() == start
