"""A real Prometheus for integration tests: started on a free loopback port with the given configuration, ready
before it is handed over, stopped afterwards (the Debian `prometheus` package)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
