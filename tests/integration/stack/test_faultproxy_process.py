"""`python -m moneypath faultproxy` as a real process on loopback, between this test (the service) and two
small recording providers (komoju and knet of the foreign catalog) plus a recording webhook endpoint, all
aiohttp on a thread of the test: forwarding, every fault, the ambiguous timeout, a fault's end, the admin
API's refusals, faults off by default, clean shutdown and the startup errors."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from moneypath.protocol.tokens import issue
from tests.conftest import ROOT, free_port, stop_process, wait_for
from tests.docs_examples import args_of, code_block, env_of, script_lines, shell, substitute

pytestmark = pytest.mark.integration

CATALOG = str(ROOT / "tests" / "foreign" / "moneypath.yaml")  # providers komoju and knet
SECRET = "integration-token-secret"
FAULTS = ("error_rate", "latency", "timeout", "reset", "duplicate_webhooks", "delay_webhooks", "out_of_order_webhooks")


class Endpoints:
    """Recording HTTP endpoints (the providers and the service's webhook receiver) on a thread's event loop."""

    def __init__(self, names: tuple[str, ...]):
        self.seen: dict[str, list[dict]] = {name: [] for name in names}
        self.urls: dict[str, str] = {}
        self._loop = asyncio.new_event_loop()
        self._runners: list[web.AppRunner] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        for name in names:
            asyncio.run_coroutine_threadsafe(self._start(name), self._loop).result(10)

    async def _start(self, name: str) -> None:
        async def answer(request: web.Request):
            self.seen[name].append({"method": request.method, "path_qs": request.raw_path, "at": time.monotonic(),
                                    "body": await request.read(), "headers": request.headers.copy()})
            return web.json_response({"from": name, "n": len(self.seen[name])},
                                     status=201 if request.method == "POST" else 200)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self._runners.append(runner)
        self.urls[name] = f"http://127.0.0.1:{port}"

    def clear(self) -> None:
        for seen in self.seen.values():
            seen.clear()

    def close(self) -> None:
        async def stop():
            for runner in self._runners:
                await runner.cleanup()
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def start_proxy(tmp: Path, upstreams: dict[str, str], *extra: str, env_secret: bool = True, args=None):
    """`moneypath faultproxy` on a free port; `args` (without --port) instead of the catalog, upstreams and extra."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYPATH_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    if env_secret:
        env["MONEYPATH_TOKEN_SECRET"] = SECRET
    if args is None:
        args = ["faultproxy", "--catalog", CATALOG, *(f"--upstream={p}={u}" for p, u in upstreams.items()), *extra]
    out, err = tmp / f"proxy-{port}.out", tmp / f"proxy-{port}.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "moneypath", *args, "--port", str(port)],
                                cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
    try:
        wait_for(lambda: proc.poll() is not None or out.read_text(), 30, "the proxy's banner")
        assert proc.poll() is None, f"the proxy exited with {proc.returncode}: {err.read_text()}"
    except BaseException:
        stop_process(proc)
        raise
    return proc, f"http://127.0.0.1:{port}", out, err


@pytest.fixture(scope="module")
def endpoints():
    eps = Endpoints(("komoju", "knet", "service"))
    yield eps
    eps.close()


@pytest.fixture(scope="module")
def running(endpoints, tmp_path_factory):
    """One proxy with faults enabled and a webhook target, for the module: docs/fault-proxy.md's command, its
    catalog, upstreams and webhook target this test's (and a free --port)."""
    tmp = tmp_path_factory.mktemp("faultproxy")
    [example] = shell(code_block("docs/fault-proxy.md", "Fault proxy", "sh"))
    assert env_of(example) == {"MONEYPATH_TOKEN_SECRET": "…"}  # start_proxy sets SECRET
    args = substitute(args_of(example), {"ops/moneypath.yaml": CATALOG,
                                         "komoju=https://sandbox.komoju.example": f"komoju={endpoints.urls['komoju']}",
                                         "knet=http://127.0.0.1:9102": f"knet={endpoints.urls['knet']}",
                                         "http://127.0.0.1:8080": endpoints.urls["service"] + "/hooks"})
    proc, url, out, err = start_proxy(tmp, {}, args=args)
    try:
        yield url, out, err
    finally:
        stop_process(proc)


@pytest.fixture
def proxy(running, endpoints):
    """The module's proxy with no fault set and nothing recorded; an httpx client for it; admin headers."""
    url, out, _ = running
    token = issue(SECRET.encode(), "integration", ["admin:faults"], ttl_s=300)
    admin = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=10, trust_env=False) as client:
        for name in FAULTS:
            assert client.delete(f"/admin/faults/{name}", headers=admin).status_code == 200
        endpoints.clear()
        yield client, admin, endpoints, out
        for name in FAULTS:
            client.delete(f"/admin/faults/{name}", headers=admin)


def put(client: httpx.Client, admin: dict, name: str, **body) -> dict:
    r = client.put(f"/admin/faults/{name}", json=body, headers=admin)
    assert r.status_code == 200, r.text
    return r.json()


def test_banner_forwarding_and_health(proxy, running):
    client, admin, eps, out = proxy
    url = running[0]
    assert out.read_text() == (f"faultproxy on {url}: komoju → {eps.urls['komoju']}, knet → {eps.urls['knet']}, "
                               f"webhooks → {eps.urls['service']}/hooks (faults enabled)\n")
    r = client.post("/knet/v1/charges?currency=KWD", json={"amount_minor": 6235},
                    headers={"Idempotency-Key": "k-1", "X-Correlation-Id": "corr-12345678"})
    assert (r.status_code, r.json()) == (201, {"from": "knet", "n": 1})
    seen = eps.seen["knet"][0]
    assert (seen["method"], seen["path_qs"], seen["body"]) == ("POST", "/v1/charges?currency=KWD",
                                                               b'{"amount_minor":6235}')
    assert seen["headers"]["idempotency-key"] == "k-1" and seen["headers"]["x-correlation-id"] == "corr-12345678"
    health = client.get("/healthz").json()
    assert health["ok"] is True and health["upstreams"] == {"komoju": eps.urls["komoju"], "knet": eps.urls["knet"]}
    r = client.get("/stripe/v1/charges")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_admin_refusals(proxy):
    client, admin, eps, _ = proxy
    body = {"provider": "komoju", "rate": 1}
    r = client.put("/admin/faults/error_rate", json=body)
    assert (r.status_code, r.headers["www-authenticate"]) == (401, 'Bearer realm="faultproxy"')
    assert r.headers["content-type"] == "application/problem+json"
    bad = issue(b"not-the-secret", "x", ["admin:faults"], ttl_s=60)
    assert client.put("/admin/faults/error_rate", json=body, headers={"Authorization": f"Bearer {bad}"}).status_code == 401
    weak = issue(SECRET.encode(), "x", ["payments:write"], ttl_s=60)
    r = client.delete("/admin/faults/error_rate", headers={"Authorization": f"Bearer {weak}"})
    assert r.status_code == 403 and r.json()["type"].endswith("/insufficient-scope")
    assert client.get("/admin/faults", headers=admin).json() == {"faults": []}


def test_hostile_admin_requests_are_4xx_problems_and_leave_no_traceback(proxy, running):
    client, admin, _, _ = proxy
    _, _, err = running
    deep = b"[" * 100_000 + b"]" * 100_000
    r = client.put("/admin/faults/error_rate", content=deep, headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
    assert "nested too deeply" in r.json()["detail"]
    r = client.delete("/admin/faults/error_rate", params={"provider": "knett"}, headers=admin)
    assert r.status_code == 404 and r.json()["known"] == ["komoju", "knet"] and "did you mean knet?" in r.json()["detail"]
    r = client.delete("/admin/faults/error_rate", params={"providr": "knet"}, headers=admin)
    assert r.status_code == 400 and "did you mean provider?" in r.json()["detail"]
    assert "Traceback" not in err.read_text()


def by_hand(lines: list[str], url: str) -> str:
    """docs/fault-proxy.md's "Making one provider fail by hand" lines in bash, on this proxy and its secret."""
    script = "\n".join(lines).replace("MONEYPATH_TOKEN_SECRET=…", f"MONEYPATH_TOKEN_SECRET={SECRET}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYPATH_") and "proxy" not in k.lower()}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # `python`: this one
    run = subprocess.run(["bash", "-euc", script.replace("http://127.0.0.1:8790", url)], capture_output=True,
                         text=True, env=env, timeout=30)
    assert run.returncode == 0, run.stderr
    return run.stdout


def raw_exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client would send them) and read the answer until the proxy closes."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


SECRETISH = "s3cr3t-" + "x" * 9000  # bigger than aiohttp's 8190-byte field limit; never echoed or logged


MALFORMED = [
    ("header-too-large", b"PUT /admin/faults/error_rate HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer "
     + SECRETISH.encode() + b"\r\nContent-Length: 2\r\n\r\n{}", 431, "headers-too-large"),
    ("too-many-headers", b"DELETE /admin/faults/latency HTTP/1.1\r\nHost: proxy\r\n"
     + b"".join(b"X-H%d: 1\r\n" % i for i in range(200)) + b"\r\n", 431, "headers-too-large"),
    ("uri-too-long", b"GET /admin/faults?" + SECRETISH.encode() + b" HTTP/1.1\r\nHost: proxy\r\n\r\n", 414,
     "uri-too-long"),
    ("header-without-colon", b"GET /admin/faults HTTP/1.1\r\nHost: proxy\r\nno colon here\r\n\r\n", 400,
     "malformed-request"),
    ("bad-chunk", b"PUT /admin/faults/error_rate HTTP/1.1\r\nHost: proxy\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"zz\r\n{}\r\n0\r\n\r\n", 400, "malformed-request"),
]


@pytest.mark.parametrize(("name", "request_bytes", "status", "type_"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_a_malformed_request_is_a_4xx_problem_before_any_handler(running, name, request_bytes, status, type_):
    url, _, err = running
    got, headers, body = raw_exchange(url, request_bytes)
    assert (got, headers["content-type"]) == (status, "application/problem+json"), (name, got, headers, body)
    problem = json.loads(body)
    assert problem["status"] == status and problem["type"] == f"https://moneypath.dev/problems/{type_}", problem
    assert "s3cr3t" not in body.decode()  # and the proxy closed the connection: raw_exchange read to its end
    log = err.read_text()
    assert "Traceback" not in log and "s3cr3t" not in log


def test_error_rate_reset_and_latency(proxy, running):
    client, admin, eps, _ = proxy
    mint, fail, clear = script_lines(code_block("docs/fault-proxy.md", "Making one provider fail by hand", "sh"))
    by_hand([mint, fail], running[0])
    r = client.post("/knet/v1/charges", json={})
    assert (r.status_code, r.headers["x-moneypath-fault"]) == (503, "error_rate")
    by_hand([mint, clear], running[0])
    assert client.post("/knet/v1/charges", json={}).status_code == 201 and len(eps.seen["knet"]) == 1
    eps.clear()

    put(client, admin, "error_rate", provider="komoju", rate=1, status=502)
    r = client.post("/komoju/v1/charges", json={})
    assert (r.status_code, r.headers["x-moneypath-fault"]) == (502, "error_rate")
    assert r.json()["type"].endswith("/injected-error")
    assert client.post("/knet/v1/charges", json={}).status_code == 201
    assert eps.seen["komoju"] == []

    put(client, admin, "reset", provider="knet", rate=1)
    with pytest.raises(httpx.TransportError):  # the connection is closed without an answer
        client.post("/knet/v1/charges", json={})
    assert len(eps.seen["knet"]) == 1

    client.delete("/admin/faults/reset", headers=admin)
    put(client, admin, "latency", provider="knet", extra_ms=400)
    start = time.monotonic()
    assert client.post("/knet/v1/charges", json={}).status_code == 201
    assert time.monotonic() - start >= 0.35
    assert len(eps.seen["knet"]) == 2


def test_timeout_the_upstream_acts_and_the_client_times_out(proxy):
    client, admin, eps, _ = proxy
    put(client, admin, "timeout", provider="komoju", rate=1, delay_s=30, duration_s=3)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/komoju/v1/charges", json={"amount_minor": 1999, "reference": "order-1"}, timeout=0.5)
    assert [s["body"] for s in eps.seen["komoju"]] == [b'{"amount_minor":1999,"reference":"order-1"}']
    # A caller that waits longer gets the answer when the fault ends (3 s), not after delay_s (30 s).
    start = time.monotonic()
    r = client.post("/komoju/v1/charges", json={}, timeout=15)
    assert (r.status_code, r.headers["x-moneypath-fault"]) == (201, "timeout")
    assert time.monotonic() - start < 8
    assert len(eps.seen["komoju"]) == 2


def test_a_fault_ends_with_its_duration(proxy):
    client, admin, eps, _ = proxy
    assert put(client, admin, "error_rate", provider="knet", rate=1, duration_s=1)["ends_in_s"] == 1.0
    assert client.get("/knet/x").status_code == 503
    wait_for(lambda: client.get("/knet/x").status_code == 200, 5, "the fault to end")
    assert client.get("/admin/faults", headers=admin).json() == {"faults": []}


def test_webhook_faults(proxy):
    client, admin, eps, _ = proxy
    hooks = eps.seen["service"]
    r = client.post("/webhooks/komoju/komoju", json={"id": "evt_0"}, headers={"X-Moneypath-Signature": "t=1,n=a,v1=0"})
    assert (r.status_code, r.json()["from"]) == (201, "service")
    assert hooks[0]["path_qs"] == "/hooks/komoju" and hooks[0]["headers"]["x-moneypath-signature"] == "t=1,n=a,v1=0"

    put(client, admin, "duplicate_webhooks", provider="komoju", rate=1)
    assert client.post("/webhooks/komoju/komoju", json={"id": "evt_1"}).status_code == 201
    wait_for(lambda: len(hooks) == 3, 5, "the duplicate")
    assert [h["body"] for h in hooks[1:]] == [b'{"id":"evt_1"}'] * 2
    client.delete("/admin/faults/duplicate_webhooks", headers=admin)

    put(client, admin, "out_of_order_webhooks", provider="komoju")
    assert client.post("/webhooks/komoju/komoju", json={"id": "evt_2"}).status_code == 202
    assert client.post("/webhooks/komoju/komoju", json={"id": "evt_3"}).status_code == 201
    wait_for(lambda: len(hooks) == 5, 5, "the held webhook")
    assert [h["body"] for h in hooks[3:]] == [b'{"id":"evt_3"}', b'{"id":"evt_2"}']
    client.delete("/admin/faults/out_of_order_webhooks", headers=admin)

    put(client, admin, "delay_webhooks", provider="knet", delay_s=1)
    start = time.monotonic()
    r = client.post("/webhooks/knet/knet", json={"id": "evt_4"})
    assert r.status_code == 202 and time.monotonic() - start < 0.9  # the provider is answered at once
    assert len(hooks) == 5
    wait_for(lambda: len(hooks) == 6, 5, "the delayed webhook")
    assert hooks[5]["at"] - start >= 0.9 and hooks[5]["body"] == b'{"id":"evt_4"}'


def test_faults_are_off_by_default_and_the_proxy_stops_cleanly(endpoints, tmp_path):
    upstreams = {"komoju": endpoints.urls["komoju"], "knet": endpoints.urls["knet"]}
    proc, url, out, err = start_proxy(tmp_path, upstreams)
    try:
        assert out.read_text().endswith("(faults off)\n")
        token = issue(SECRET.encode(), "integration", ["admin:faults"], ttl_s=60)
        r = httpx.put(f"{url}/admin/faults/error_rate", json={"provider": "knet", "rate": 1},
                      headers={"Authorization": f"Bearer {token}"}, trust_env=False)
        assert r.status_code == 403 and "faults are not enabled" in r.json()["detail"]
        assert httpx.get(f"{url}/knet/x", trust_env=False).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        stop_process(proc)
    assert err.read_text() == ""

    proc, url, out, err = start_proxy(tmp_path, upstreams)
    try:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        stop_process(proc)
    assert "Traceback" not in err.read_text()


def test_startup_errors_are_one_line_and_exit_2(endpoints, tmp_path):
    komoju = endpoints.urls["komoju"]
    refused = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    silent = socket.socket()  # accepts connections (the backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    cases = {
        "refused": ([f"--upstream=komoju={komoju}", f"--upstream=knet={refused}"],
                    f"moneypath faultproxy: upstream knet {refused} does not answer (ConnectError: "),
        "silent": ([f"--upstream=komoju={silent_url}", f"--upstream=knet={komoju}"],
                   f"moneypath faultproxy: upstream komoju {silent_url} does not answer (ReadTimeout: "),
        "unknown": ([f"--upstream=komoju={komoju}", f"--upstream=knet={komoju}", f"--upstream=kmoju={komoju}"],
                    f"moneypath faultproxy: --upstream 'kmoju={komoju}': kmoju is not a provider of the catalog "
                    "(known: komoju, knet); did you mean komoju?"),
        "none": ([], "moneypath faultproxy: no --upstream: give one for each provider your service calls through "
                     "the proxy"),
        "malformed": (["--upstream", "komoju", f"--upstream=knet={komoju}"],
                      "moneypath faultproxy: --upstream 'komoju': expected PROVIDER=URL"),
        "no secret": ([f"--upstream=komoju={komoju}", f"--upstream=knet={komoju}", "--enable-faults"],
                      "moneypath faultproxy: --enable-faults needs MONEYPATH_TOKEN_SECRET in the environment"),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONEYPATH_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    procs = {name: subprocess.Popen([sys.executable, "-m", "moneypath", "faultproxy", "--catalog", CATALOG,
                                     "--port", str(free_port()), *argv], cwd=ROOT, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, (argv, _) in cases.items()}
    try:
        for name, (_, expected) in cases.items():
            stdout, stderr = procs[name].communicate(timeout=30)
            assert procs[name].returncode == 2, (name, stderr)
            assert stdout == "" and stderr.count("\n") == 1 and stderr.startswith(expected), (name, stderr)
    finally:
        silent.close()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
