"""Multi-process mode's costs, printed as figures (no pass/fail).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_multiproc.py [--dead 200]

1. One `record_provider_call` (a counter and a histogram) in one process, and in multiprocess mode with
   files named by PID and start time (each run in a fresh interpreter: prometheus-client picks its store at
   import).
2. A scrape of a directory that `--dead` recycled workers left behind: prometheus-client's collector reading
   every file, the first scrape here (which folds them into the archives), and the scrapes after it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "tests" / "foreign" / "moneypath.yaml"
CALLS = 200_000


def observe_ns() -> float:
    """In this interpreter: nanoseconds per record_provider_call (the best of five)."""
    from moneypath.instrument import MoneyPath

    mp = MoneyPath.from_catalog(CATALOG)
    record = mp.record_provider_call
    best = min(timeit.repeat(lambda: record("komoju", "capture", "success", 0.02), number=CALLS // 5, repeat=5))
    return best / (CALLS // 5) * 1e9


def worker_files(directory: str) -> None:
    """In this interpreter (multiprocess mode): one worker's files, every provider and operation recorded."""
    from moneypath.instrument import MoneyPath

    mp = MoneyPath.from_catalog(CATALOG)
    for provider in ("komoju", "knet"):
        for operation in ("authorize", "capture", "refund"):
            for outcome in ("success", "error", "timeout"):
                mp.record_provider_call(provider, operation, outcome, 0.02)
        mp.set_circuit_state(provider, "closed")
        mp.record_authorization(provider, "card", "approved", 0.2)


def in_child(mode: str, directory: str | None) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if directory:
        env["PROMETHEUS_MULTIPROC_DIR"] = directory
    return subprocess.run([sys.executable, __file__, "--child", mode], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def scrape_ms(collect, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        list(collect())
        best = min(best, time.perf_counter() - started)
    return best * 1e3


def scrapes(dead: int) -> None:
    from prometheus_client.multiprocess import MultiProcessCollector

    from moneypath.instrument import _multiproc as multiproc

    directory = tempfile.mkdtemp(prefix="bench-multiproc-")
    try:
        in_child("files", directory)
        template = [n for n in os.listdir(directory) if n.endswith(".db")]
        owner = template[0][:-3].rpartition("_")[2]
        for n in range(dead):  # the same files under identities no live process has
            for name in template:
                shutil.copy(os.path.join(directory, name), os.path.join(directory, name.replace(owner, f"1-{n}")))
        files = len([n for n in os.listdir(directory) if n.endswith(".db")])
        plain = scrape_ms(MultiProcessCollector(None, path=directory).collect)
        ours = multiproc.collector(directory)
        started = time.perf_counter()
        list(ours.collect())
        first = (time.perf_counter() - started) * 1e3
        after = scrape_ms(ours.collect)
        left = len([n for n in os.listdir(directory) if n.endswith(".db")])
        print(f"scrape, {dead + 1} workers' files ({files} files, {len(template)} a worker):")
        print(f"  prometheus-client reading them all      {plain:8.1f} ms (every scrape, growing with recycles)")
        print(f"  first scrape here, folding them         {first:8.1f} ms (once)")
        print(f"  scrapes after it ({left} files left)         {after:8.1f} ms")
    finally:
        shutil.rmtree(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dead", type=int, default=200, help="recycled workers' files to scrape (default 200)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "observe":
        print(f"{observe_ns():.0f}")
        return
    if args.child == "observe-pid":  # prometheus-client's own file names (by PID alone), for comparison
        from moneypath.instrument import _multiproc as multiproc

        multiproc.install_process_identifier = lambda: None
        print(f"{observe_ns():.0f}")
        return
    if args.child == "files":
        worker_files(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        return
    single = float(in_child("observe", None))
    directory = tempfile.mkdtemp(prefix="bench-multiproc-")
    try:
        multi = float(in_child("observe", directory))
        by_pid = float(in_child("observe-pid", directory))
    finally:
        shutil.rmtree(directory)
    print("record_provider_call (a counter and a histogram):")
    print(f"  one process                             {single / 1000:8.2f} µs")
    print(f"  multiprocess mode, files by PID alone   {by_pid / 1000:8.2f} µs ({by_pid / single:.1f}x)")
    print(f"  multiprocess mode, by PID + start time  {multi / 1000:8.2f} µs ({multi / single:.1f}x)")
    scrapes(args.dead)


if __name__ == "__main__":
    main()
