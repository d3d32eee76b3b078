"""The OTel backend's cost per OpenTelemetry SDK version, side by side in one run (figures, not pass/fail).

    python benchmarks/bench_otel_versions.py [--quick] [--versions 1.44.0 1.45.2 ...] [--venv-dir /tmp]

One throwaway venv per SDK version (created under --venv-dir with pip when missing: the SDK and OTLP exporter
at that exact version, prometheus-client, pydantic, PyYAML; the project from this working tree via
PYTHONPATH). Each round runs `bench_instrument.py --otel-json` once in every venv, one after the other, so
drift on a shared machine hits all versions alike; the figures are the medians over the rounds. Within a
venv every variant is measured interleaved against a pre-bound bare prometheus-client histogram + counter
(one authorization: an observation plus its count), so each ratio comes from one process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VERSIONS = ("1.44.0", "1.45.0", "1.45.1", "1.45.2")
GOAL, AIM = 2.0, 1.5
# The project's own exact pins for what is not under test (constraints.txt), so only the SDK differs.
PINNED = ("prometheus-client", "pydantic", "pyyaml")


def pins() -> list[str]:
    wanted = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if version and name.lower().replace("_", "-") in PINNED:
            wanted[name] = version
    return [f"{name}=={version}" for name, version in sorted(wanted.items())]


def venv_for(version: str, venv_dir: Path) -> Path:
    venv = venv_dir / f"mp-otel-{version}"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} (opentelemetry-sdk=={version})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-input", f"opentelemetry-sdk=={version}",
                        f"opentelemetry-exporter-otlp-proto-http=={version}", *pins()], check=True, timeout=900)
    return python


def measure(python: Path, quick: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    done = subprocess.run([str(python), str(ROOT / "benchmarks" / "bench_instrument.py"), "--otel-json",
                           *(["--quick"] if quick else [])], env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{python}: exit {done.returncode}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", nargs="+", default=list(DEFAULT_VERSIONS), metavar="V")
    parser.add_argument("--venv-dir", type=Path, default=Path("/tmp"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer calls per run (smoke test)")
    args = parser.parse_args()
    pythons = {v: venv_for(v, args.venv_dir) for v in args.versions}
    runs: dict[str, list[dict]] = {v: [] for v in args.versions}
    for i in range(args.rounds):
        for version, python in pythons.items():
            runs[version].append(measure(python, args.quick))
        print(f"round {i + 1}/{args.rounds} done", flush=True)

    print(f"\nOne authorization (histogram observation + its count), µs per call; ratio to a pre-bound bare "
          f"prometheus-client histogram + counter in the same process; median of {args.rounds} rounds "
          f"(Python {sys.version.split()[0]}). Goal ≤ {GOAL}x, aim ≤ {AIM}x.")
    print(f"  {'SDK':<8} {'bare':>6}   {'moneypath otel (default)':>26}   {'histograms=sdk':>18}   "
          f"{'raw SDK, no library':>20}")
    for version, results in runs.items():
        med = {k: statistics.median(r[k] for r in results) for k in ("bare", "otel", "otel_sdk", "raw")}
        ratio = {k: statistics.median(r[k] / r["bare"] for r in results) for k in ("otel", "otel_sdk", "raw")}
        verdict = "meets aim" if ratio["otel"] <= AIM else "meets goal" if ratio["otel"] <= GOAL else "MISSES"
        reported = results[0]["sdk_version"]
        assert reported == version, f"venv for {version} runs SDK {reported}"
        print(f"  {version:<8} {med['bare']:6.2f}   {med['otel']:6.2f} = {ratio['otel']:4.2f}x {verdict:<10}   "
              f"{med['otel_sdk']:6.2f} = {ratio['otel_sdk']:4.2f}x   {med['raw']:6.2f} = {ratio['raw']:4.2f}x")


if __name__ == "__main__":
    main()
