"""Real timeouts from each HTTP client a payment service uses, against a loopback listener that accepts and never
answers (a read timeout) and one whose accept queue is full (a connect timeout): each is recorded as "timeout",
anything else as "error", on the ticket shop's catalog (Komoju, KNET)."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import aiohttp
import httpx
import pytest
import requests
import urllib3
from prometheus_client import CollectorRegistry

from moneypath.catalog import load_catalog
from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend
from moneypath.instrument._timeouts import is_timeout

SHOP_CATALOG = Path(__file__).resolve().parents[2] / "foreign" / "moneypath.yaml"
WAIT_S = 0.2


@pytest.fixture
def shop():
    return MoneyPath(load_catalog(SHOP_CATALOG), PrometheusBackend(CollectorRegistry()))


@pytest.fixture(scope="module")
def silent_url():
    """A listener that accepts every connection and never writes a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/charges"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture(scope="module")
def full_url():
    """A listener that never accepts, its accept queue filled: a new connection's SYN goes unanswered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(8):  # the kernel takes backlog + 1; the rest wait in SYN_SENT
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(listener.getsockname())
        fillers.append(s)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/charges"
    for s in fillers:
        s.close()
    listener.close()


def outcome_of(shop, call) -> str:
    with pytest.raises(Exception) as raised:
        with shop.time_authorization("komoju", "card"):
            call()
    for outcome in ("timeout", "error"):
        if shop.registry.get_sample_value(
                shop.catalog.metric("authorizations_total"),
                dict(provider="komoju", method="card", outcome=outcome)):
            return outcome
    raise AssertionError(f"nothing recorded for {raised.value!r}")


def _aiohttp(url: str, timeout: aiohttp.ClientTimeout):
    async def get():
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(url) as answer:
                await answer.read()
    asyncio.run(get())


def _httpx_async(url: str):
    async def get():
        async with httpx.AsyncClient(timeout=WAIT_S) as client:
            await client.get(url)
    asyncio.run(get())


def _raw_socket(url: str):
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(1)


READ_TIMEOUTS = {
    "requests": lambda url: requests.get(url, timeout=WAIT_S),
    "requests session, (connect, read)": lambda url: requests.Session().post(url, json={}, timeout=(1, WAIT_S)),
    "urllib3": lambda url: urllib3.PoolManager(retries=False).request("GET", url, timeout=WAIT_S),
    "httpx": lambda url: httpx.get(url, timeout=WAIT_S),
    "httpx async": _httpx_async,
    "aiohttp total": lambda url: _aiohttp(url, aiohttp.ClientTimeout(total=WAIT_S)),
    "aiohttp sock_read": lambda url: _aiohttp(url, aiohttp.ClientTimeout(sock_read=WAIT_S)),
    "socket": _raw_socket,
}


@pytest.mark.parametrize("client", READ_TIMEOUTS)
def test_a_read_timeout_from_every_client_is_a_timeout(shop, silent_url, client):
    assert outcome_of(shop, lambda: READ_TIMEOUTS[client](silent_url)) == "timeout"


CONNECT_TIMEOUTS = {
    "requests": lambda url: requests.get(url, timeout=(WAIT_S, 5)),
    "urllib3": lambda url: urllib3.PoolManager(retries=False).request(
        "GET", url, timeout=urllib3.Timeout(connect=WAIT_S, read=5)),
    "httpx": lambda url: httpx.get(url, timeout=httpx.Timeout(5, connect=WAIT_S)),
    "aiohttp": lambda url: _aiohttp(url, aiohttp.ClientTimeout(sock_connect=WAIT_S)),
}


@pytest.mark.parametrize("client", CONNECT_TIMEOUTS)
def test_a_connect_timeout_from_every_client_is_a_timeout(shop, full_url, client):
    assert outcome_of(shop, lambda: CONNECT_TIMEOUTS[client](full_url)) == "timeout"


def test_a_refused_connection_is_an_error_not_a_timeout(shop):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    assert outcome_of(shop, lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=WAIT_S)) == "error"


def test_a_timeout_wrapped_in_another_error_is_seen_through_it():
    class Wrapper(Exception):
        pass

    inner = urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out")
    by_arg = requests.exceptions.ConnectionError(inner)
    assert is_timeout(type(by_arg), by_arg)
    try:
        try:
            raise inner
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise Wrapper("provider call failed") from exc
    except Wrapper as wrapped:
        assert is_timeout(Wrapper, wrapped)
    assert not is_timeout(ValueError, ValueError("bad amount"))
    assert not is_timeout(None)
