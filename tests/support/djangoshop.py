"""Start the Django shop (tests/foreign/djangoshop) as its team runs it: a Redis for Celery (no persistence),
one provider stub per provider, `manage.py migrate`, 2 web workers (`uvicorn --workers 2` or `gunicorn -w 2`
with its config file) and a Celery prefork worker, all on free loopback ports. As docs/instrumenting.md says
for several worker processes, the web workers and the Celery worker each get an empty PROMETHEUS_MULTIPROC_DIR
of their own; the web serves /metrics, the Celery worker its own metrics port. Everything started is stopped
on the way out."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import ROOT, free_port, http_ok, wait_for

FOREIGN = ROOT / "tests" / "foreign"  # the shop's team runs it from here: `djangoshop` is its top-level package
PROVIDERS = ("paystack", "mollie")
START_TIMEOUT_S = 30
WEB = {
    "uvicorn": lambda port: ["-m", "uvicorn", "djangoshop.asgi:application", "--host", "127.0.0.1", "--port",
                             str(port), "--workers", "2", "--log-level", "warning"],
    "gunicorn": lambda port: ["-m", "gunicorn", "-c", "djangoshop/gunicorn.conf.py", "-w", "2", "-b",
                              f"127.0.0.1:{port}", "djangoshop.wsgi"],
}


@dataclass
class Shop:
    url: str
    providers: dict[str, str]  # each provider stub's own URL (what `route` was given)
    logs: Path
    worker_metrics: str        # host:port of the Celery worker's /metrics (the web's is `url`'s)
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=15))

    def graphql(self, document: str, operation: str, **variables) -> httpx.Response:
        return self.client.post(f"{self.url}/graphql/", json={"query": document, "operationName": operation,
                                                              "variables": variables})

    def fault(self, provider: str, mode: str, **options) -> None:
        answer = self.client.post(f"{self.providers[provider]}/admin/fault", json={"mode": mode, **options})
        answer.raise_for_status()

    def charge(self, provider: str, charge_id: str) -> dict:
        answer = self.client.get(f"{self.providers[provider]}/v1/charges/{charge_id}")
        answer.raise_for_status()
        return answer.json()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
                         for path in sorted(self.logs.glob("*.log")))


def _start(argv: list[str], log: Path, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    with open(log, "ab") as out:  # its own session: the stop below reaches its workers too
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop_groups(procs: list[subprocess.Popen], timeout_s: float = 10) -> None:
    """SIGTERM to every leader at once (uvicorn, gunicorn and Celery stop their workers themselves; Celery's
    warm shutdown takes seconds), then SIGKILL to each whole group: no worker outlives the test."""
    for proc in procs:
        with suppress(ProcessLookupError):
            proc.terminate()
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _redis_answers(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _log_says(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text(errors="replace")


def _metrics_dir(logs: Path, name: str) -> str:
    """An empty directory for one process manager's workers (never shared: each is scraped on its own)."""
    path = logs / f"metrics-{name}"
    path.mkdir()
    return str(path)


@contextmanager
def running_shop(database_url: str, logs: Path, web: str = "uvicorn", catalog: Path | None = None,
                 route: Callable[[dict[str, str]], dict[str, str]] | None = None,
                 settings: dict[str, str] | None = None) -> Iterator[Shop]:
    """The whole shop on loopback, migrated and answering; `web` is "uvicorn" (ASGI) or "gunicorn" (WSGI);
    `catalog` the moneypath catalog (default: the shop's own, ops/moneypath.yaml). `route`, called with the
    provider stubs' URLs once they answer, returns the base URLs the shop should call instead (a fault proxy's
    `/<provider>`), for the providers it names. `settings`: more of the shop's environment (PAYMENT_CAPTURE)."""
    logs.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in ("redis", "web", "worker_metrics", *PROVIDERS)}
    providers = {name: f"http://127.0.0.1:{ports[name]}" for name in PROVIDERS}
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "djangoshop.settings", "SECRET_KEY": secrets.token_hex(16),
           "DATABASE_URL": database_url, "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
           "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "INFO",
           "CELERY_METRICS_PORT": str(ports["worker_metrics"]),
           **({"MONEYPATH_CATALOG": str(catalog)} if catalog is not None else {}),
           **{f"{name.upper()}_URL": url for name, url in providers.items()}, **(settings or {})}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    shop = Shop(url=f"http://127.0.0.1:{ports['web']}", providers=providers, logs=logs,
                worker_metrics=f"127.0.0.1:{ports['worker_metrics']}")
    procs: list[subprocess.Popen] = []
    try:
        procs.append(_start(["redis-server", "--save", "", "--appendonly", "no", "--port", str(ports["redis"]),
                             "--bind", "127.0.0.1"], logs / "redis.log", logs, env))
        for name in PROVIDERS:
            procs.append(_start([sys.executable, "-m", "tests.foreign.djangoshop.provider_stub", "--port",
                                 str(ports[name]), "--name", name], logs / f"{name}.log", ROOT, env))
        if route is not None:
            wait_for(lambda: all(http_ok(f"{url}/health") for url in providers.values()), START_TIMEOUT_S,
                     "the provider stubs to answer")
            env.update({f"{name.upper()}_URL": url for name, url in route(dict(providers)).items()})
        migrate = subprocess.run([sys.executable, "djangoshop/manage.py", "migrate", "--noinput"], cwd=FOREIGN,
                                 env=env, capture_output=True, text=True, timeout=60)
        assert migrate.returncode == 0, f"migrate failed:\n{migrate.stdout}\n{migrate.stderr}"
        procs.append(_start([sys.executable, *WEB[web](ports["web"])], logs / f"{web}.log", FOREIGN,
                            {**env, "PROMETHEUS_MULTIPROC_DIR": _metrics_dir(logs, "web")}))
        worker_log = logs / "celery.log"
        procs.append(_start([sys.executable, "-m", "celery", "-A", "djangoshop.celery", "worker", "--pool",
                             "prefork", "--concurrency", "2", "--without-gossip", "--without-mingle",
                             "--without-heartbeat", "--loglevel", "INFO"], worker_log, FOREIGN,
                            {**env, "PROMETHEUS_MULTIPROC_DIR": _metrics_dir(logs, "celery")}))

        def answering() -> bool:
            exited = [" ".join(map(str, p.args[:4])) for p in procs if p.poll() is not None]
            assert not exited, f"exited while starting: {exited}"
            return (_redis_answers(ports["redis"]) and all(http_ok(f"{url}/health") for url in providers.values())
                    and http_ok(f"{shop.url}/health/") and _log_says(worker_log, " ready.")
                    and http_ok(f"http://{shop.worker_metrics}/metrics"))

        wait_for(answering, START_TIMEOUT_S, "the shop's processes to answer")
        yield shop
    except BaseException as exc:
        if isinstance(exc, AssertionError):
            exc.args = (f"{exc}\n{shop.log_tail()}",)
        raise
    finally:
        shop.client.close()
        stop_groups(procs[::-1])
