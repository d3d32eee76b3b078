"""How fast one core runs right now, told by a probe that shares it: for ratios between phases of a benchmark that
ran at different times on a VM whose speed moves.

Measured on the 2-core AMD VM (2026-11-26, a throwaway script; the service alone on CPU 0, its simulator and the load
generator on CPU 1, a closed loop of 32 authorizations in one-second slices): the service's CPU per request moved
between 1,744 and 3,616 µs, everything in it alike (`perf`: the interpreter x1.37, SQLite x1.29, libc x1.36, the
kernel x1.25 from its fast seconds to its slow ones; no steal time), and this probe's time tracked it second by
second on the same core (correlation 0.86-0.89) but not on the other one (0.39-0.42): a vCPU's speed changes under
it, one vCPU at a time. So a saturation measured for 15 s and an overload measured a minute later can run on
different machines; the probe says how different.

The probe walks a shuffled ring of 4,096 list items (the interpreter's work, in cache) and times it in its own
thread's CPU time every `every_s`: ~2 ms of the core each 0.1 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
from pathlib import Path

from benchmarks.processes import stop_process

PROBE = r"""
import random, sys, time

def walk(ring, steps):
    i = 0
    for _ in range(steps):
        i = ring[i]
    return i

random.seed(1)
ring = list(range(4096))
random.shuffle(ring)
every = float(sys.argv[1])
while True:
    start = time.thread_time_ns()
    walk(ring, 50000)
    print(f"{time.perf_counter():.4f} {time.thread_time_ns() - start}", flush=True)
    time.sleep(every)
"""


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of a process onto `cpus` (threads and processes it starts later inherit it)."""
    for tid in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(tid.name), cpus)
        except OSError:  # the thread ended in between
            pass


class CoreSpeed:
    """A probe process pinned to `cpu`; mean_ms(t0, t1): its mean time per probe between two `time.perf_counter()`
    readings (the same monotonic clock in every process): higher is a slower core."""

    def __init__(self, cpu: int, every_s: float = 0.1):
        self.proc = subprocess.Popen([sys.executable, "-c", PROBE, str(every_s)], stdout=subprocess.PIPE, text=True)
        os.sched_setaffinity(self.proc.pid, {cpu})
        self.samples: list[tuple[float, float]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for row in self.proc.stdout:
            at, ns = row.split()
            self.samples.append((float(at), int(ns) / 1e6))

    def mean_ms(self, t0: float, t1: float) -> float:
        inside = [ms for at, ms in self.samples if t0 <= at <= t1]
        return statistics.mean(inside) if inside else float("nan")

    def stop(self) -> None:
        stop_process(self.proc, timeout_s=5)
