"""A real Prometheus for integration tests: started on a free loopback port with the given configuration, ready
before it is handed over, stopped afterwards (the Debian `prometheus` package)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import yaml

from tests.conftest import free_port, http_ok, stop_process, wait_for


@contextmanager
def running_prometheus(tmp_path: Path, config: str, *options: str) -> Iterator[str]:
    """`with running_prometheus(tmp, "global: {scrape_interval: 1s}\\n...") as url:` Prometheus' URL once ready."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "prometheus.yml").write_text(config)
    port = free_port()
    proc = subprocess.Popen([shutil.which("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                             *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(f"{url}/-/ready"), 60, "Prometheus")
        yield url
    finally:
        stop_process(proc)


def scraping(targets: dict[str, str], rule_files: list[str] = (), interval: str = "1s") -> str:
    """A configuration scraping each job's host:port every `interval`, its rules evaluated as often."""
    config = {"global": {"scrape_interval": interval, "evaluation_interval": interval},
              "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}
                                 for job, target in targets.items()]}
    if rule_files:
        config["rule_files"] = list(rule_files)
    return yaml.safe_dump(config, sort_keys=False)


def start_prometheus(tmp_path: Path, targets: dict[str, str], rule_files: list[str] = (),
                     interval: str = "1s") -> tuple[str, Callable[[], None]]:
    """(its URL, stop) once it is ready, scraping `targets` (job name -> host:port): for tests that stop it
    themselves rather than in a `with`."""
    stack = ExitStack()
    url = stack.enter_context(running_prometheus(tmp_path, scraping(targets, rule_files, interval)))
    return url, stack.close
