"""How long `moneypath alerts backtest` takes: the shipped catalog's alerts over the synthetic week
(benchmarks/synthetic_week.py) on a real Prometheus, at a 1-minute step (10,080 evaluations, one query per rule)
and at 15 s (40,320, four chunks per rule). Figures, not pass/fail.

    .venv/bin/python benchmarks/bench_backtest.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if not __package__:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.processes import free_port, http_ok, stop_process, wait_for  # noqa: E402
from benchmarks.synthetic_week import DAY, load  # noqa: E402
from moneypath._common.prometheus import Prometheus  # noqa: E402
from moneypath.catalog import load_catalog  # noqa: E402
from moneypath.check.backtest import evaluate  # noqa: E402
from moneypath.generate.rules import alert_rules, recording_rules  # noqa: E402

CATALOG_PATH = Path(__file__).resolve().parent.parent / "moneypath.yaml"


def main() -> None:
    c = load_catalog(CATALOG_PATH)
    alerting = [r for g in alert_rules(c)["groups"] for r in g["rules"]]
    recording = [r for g in recording_rules(c)["groups"] for r in g["rules"]]
    end = int(time.time()) // DAY * DAY
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.monotonic()
        load(c, end, work / "data", work)
        print(f"synthetic week: 8 days x 12 series at 1 m, blocks written in {time.monotonic() - t0:.1f} s")
        (work / "prometheus.yml").write_text("global: {}\n")
        port = free_port()
        proc = subprocess.Popen([shutil.which("prometheus"), f"--config.file={work / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                 "--storage.tsdb.retention.time=30d"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: http_ok(f"{url}/-/ready"), 60, "Prometheus")
            with Prometheus(url, timeout_s=600) as prom:
                for step in ("1m", "1m", "15s"):
                    result = evaluate(prom, alerting, recording, end - 7 * DAY, end, step)
                    pages = sum(len(r.paged) for r in result.results)
                    print(f"7d at {step:>3}: {len(alerting)} rules in {result.seconds:.1f} s "
                          f"({result.seconds / len(alerting) * 1000:.0f} ms a rule), {pages} pages found")
        finally:
            stop_process(proc)


if __name__ == "__main__":
    main()
