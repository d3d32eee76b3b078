"""A fresh Prometheus on a free loopback port scraping given targets every second (rules evaluated as often),
stopped by the caller: the tests that need a real server and not the whole stack."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.conftest import free_port, http_ok, stop_process, wait_for


def start_prometheus(tmp_path: Path, targets: dict[str, str], rule_files: list[str] = (),
                     interval: str = "1s") -> tuple[str, callable]:
    """(its URL, stop) once it is ready; `targets` maps a job name to host:port."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = {"global": {"scrape_interval": interval, "evaluation_interval": interval},
              "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [target]}]}
                                 for job, target in targets.items()]}
    if rule_files:
        config["rule_files"] = list(rule_files)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    proc = subprocess.Popen([shutil.which("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(f"{url}/-/ready"), 60, "Prometheus")
    except BaseException:
        stop_process(proc)
        raise
    return url, lambda: stop_process(proc)
