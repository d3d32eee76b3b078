"""One Locust process against a master and two workers, at the same rate (figures, not pass/fail).

    .venv/bin/python benchmarks/bench_distributed.py [--rate 100] [--duration 60] [--rounds 1]

One local stack (`moneypath up`: the reference service, its provider simulator, Prometheus), then per round, in
turn: `moneypath loadtest checkout --rate R --duration D` as one process, and the same with `--workers 2 --bind
127.0.0.1:<port>` beside two `moneypath loadtest-worker --master 127.0.0.1:<port>` started on their own, as on
other machines. Each run prints the rate asked and achieved (Locust's aggregate over the run) and its error, the
authorization p99, the verdict, and the CPU of each Locust process (from /proc: its CPU seconds over its life, and the
median and highest of its seconds). The figures side by side are what the issue's note asks for: what
spreading a run costs and whether the aggregate holds the asked rate.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from moneypath.stack.processes import free_port

MONEYPATH = [sys.executable, "-m", "moneypath"]


class CpuSampler:
    """Each Locust process's CPU, by its role (single, master, worker): the CPU % of every second it ran, and its CPU
    seconds over its life (what it cost in all, waiting for workers included)."""

    def __init__(self):
        self.samples: dict[tuple[str, int], list[float]] = {}
        self.totals: dict[tuple[str, int], tuple[float, float]] = {}  # (CPU seconds, seconds alive) at the last look
        self._procs: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def role(cmdline: list[str]) -> str | None:
        if "locust" not in cmdline:
            return None
        return "master" if "--master" in cmdline else "worker" if "--worker" in cmdline else "single"

    def _run(self):
        while not self._stop.wait(1.0):
            for p in psutil.process_iter(["pid", "cmdline"]):
                role = self.role(p.info["cmdline"] or [])
                if role is None:
                    continue
                proc = self._procs.setdefault(p.pid, p)
                try:
                    cpu = proc.cpu_percent(None)  # since the last call: 0 on the first
                    times = proc.cpu_times()
                    alive = time.time() - proc.create_time()
                except psutil.Error:
                    continue
                key = (role, p.pid)
                if key in self.totals:
                    self.samples.setdefault(key, []).append(cpu)
                self.totals[key] = (times.user + times.system, alive)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> list[str]:
        out = []
        for key, (cpu_s, alive_s) in sorted(self.totals.items()):
            values = self.samples.get(key) or [0.0]
            out.append(f"{key[0]} {key[1]}: {cpu_s:5.1f} CPU s over {alive_s:4.0f} s ({cpu_s / alive_s:5.1%} of a "
                       f"core), median second {sorted(values)[len(values) // 2]:5.1f} %, highest {max(values):5.1f} %")
        return out


def run(args, state: Path, out: Path, workers: int) -> dict:
    argv = [*MONEYPATH, "--state-dir", str(state), "loadtest", "checkout", "--rate", str(args.rate),
            "--duration", str(args.duration), "--out", str(out)]
    started: list[subprocess.Popen] = []
    with CpuSampler() as cpu:
        if workers:
            port = free_port()
            argv += ["--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
            for i in range(workers):
                started.append(subprocess.Popen([*MONEYPATH, "loadtest-worker", "--master", f"127.0.0.1:{port}"],
                                                stdout=open(out / f"worker-{i + 1}.log", "wb"),
                                                stderr=subprocess.STDOUT))
        t0 = time.monotonic()
        code = subprocess.run(argv, stdout=open(out / "master.log", "wb"), stderr=subprocess.STDOUT).returncode
        took = time.monotonic() - t0
        for proc in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    result = json.loads(next(out.glob("loadtest-checkout-*/result.json")).read_text())
    return {"code": code, "took": took, "result": result, "cpu": cpu.summary()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp:
        state = Path(tmp) / "stack"
        subprocess.run([*MONEYPATH, "--state-dir", str(state), "up"], check=True, stdout=subprocess.DEVNULL)
        try:
            for r in range(args.rounds):
                for workers in (0, 2):
                    out = Path(tmp) / f"round{r}-w{workers}"
                    out.mkdir()
                    got = run(args, state, out, workers)
                    locust = got["result"]["locust"]
                    error = (locust["rps"] - args.rate) / args.rate
                    label = "one process" if not workers else f"master + {workers} workers"
                    print(f"round {r + 1} {label:20s} asked {args.rate:g}/s  achieved {locust['rps']:.2f}/s "
                          f"({error:+.2%})  authorize p99 {locust.get('authorize_p99_ms')} ms  verdict "
                          f"{got['result']['verdict']} (exit {got['code']}, {got['took']:.0f} s)")
                    for line in got["result"].get("breaches", []):
                        print(f"    breach: {line}")
                    for line in got["cpu"]:
                        print(f"    {line}")
        finally:
            subprocess.run([*MONEYPATH, "--state-dir", str(state), "down"], stdout=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
