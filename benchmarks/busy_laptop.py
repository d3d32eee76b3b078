"""The main job beside a busy neighbour: `moneypath demo` (or some drills) while another process keeps one core
busy, run after run. A correctness check, not a benchmark: it prints each run's verdicts and exits 0 only when
every run passed (a drill not measured — the healthy peak without headroom — is shown apart and is not a pass).

    .venv/bin/python benchmarks/busy_laptop.py                                  # make demo's drills, 3 runs
    .venv/bin/python benchmarks/busy_laptop.py --runs 5 runbooks/drills/overload-spike.yaml
    .venv/bin/python benchmarks/busy_laptop.py --busy 0                         # the same, quiet machine

The neighbour is a process spinning `--busy` of each 100 ms (default 0.8: a package install, a build, a
browser), started and stopped by this script. Long: out of CI.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERDICT = re.compile(r"^│ (\S+)\s+│ (PASS|FAIL|NOT MEASURED|INTERRUPTED)\s", re.MULTILINE)


def spin(share: float) -> None:
    while True:
        start = time.perf_counter()
        while time.perf_counter() - start < 0.1 * share:
            pass
        time.sleep(0.1 * (1 - share))


def one_run(drills: list[str], work: Path) -> tuple[int, float, dict[str, str], str]:
    moneypath = str(Path(sys.executable).with_name("moneypath"))
    if drills:
        argv = [moneypath, "drill", "run", "--no-history", "--state-dir", str(work / "state"), "--reports",
                str(work / "reports"), *drills]
    else:
        argv = [moneypath, "demo", "--state-dir", str(work / "state")]  # its reports go to reports/
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=3600,
                          env={**os.environ, "COLUMNS": "200"})
    out = proc.stdout + proc.stderr
    return proc.returncode, time.monotonic() - started, dict(VERDICT.findall(out)), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("drills", nargs="*", help="drill files (default: moneypath demo, every drill it runs)")
    ap.add_argument("--runs", type=int, default=3, help="runs in a row (default 3)")
    ap.add_argument("--busy", type=float, default=0.8, help="share of one core the neighbour spins (default 0.8)")
    args = ap.parse_args(argv)
    if not 0 <= args.busy <= 1 or args.runs < 1:
        ap.error("--busy is a share between 0 and 1; --runs at least 1")
    neighbour = multiprocessing.Process(target=spin, args=(args.busy,), daemon=True) if args.busy else None
    if neighbour:
        neighbour.start()
    passed = 0
    try:
        for i in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory(prefix="busy-laptop-") as tmp:
                code, seconds, verdicts, out = one_run(args.drills, Path(tmp))
            shown = ", ".join(f"{d} {v}" for d, v in verdicts.items()) or out.strip().splitlines()[-1:]
            print(f"run {i}: exit {code} in {seconds:.0f} s (neighbour at {args.busy:.0%} of a core): {shown}",
                  flush=True)
            passed += code == 0 and bool(verdicts) and all(v == "PASS" for v in verdicts.values())
    finally:
        if neighbour:
            neighbour.terminate()
    print(f"{passed} of {args.runs} runs passed every drill")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
