"""`moneypath export <platform>`: the generated rules, routing and dashboards in each platform's native form.

Every platform module translates what the generators already make (`rules`, `routing`, `dashboards`,
`build`); none writes a rule of its own. `files(c, platform, options)` renders everything in memory and
raises ExportError (one line) on an option the platform would reject; `write` then puts the set on disk
all or nothing.

The platforms' modules:
prometheus (plain Prometheus: what `moneypath build` writes),
kube (kube-prometheus-stack: PrometheusRule, dashboard ConfigMaps, AlertmanagerConfig),
mimir (the Grafana Mimir and Cortex ruler),
vm (VictoriaMetrics: a VMRule and vmalert rule files),
argo_rollouts and flagger (the rollout tools, gated by the canary judge),
loadtest (a run on a platform: a distributed load test on Kubernetes).

The shared modules:
options (the export's options and its one error),
k8s (Kubernetes names, metadata and YAML as people read it),
amconfig (Alertmanager configuration as an AlertmanagerConfig's spec),
rollouts (what the Argo Rollouts and Flagger exports share),
invariants (the money invariants as PromQL for the rollout tools),
gameday (game days on a schedule, a CronJob).
"""

from __future__ import annotations

import errno
import os
from contextlib import ExitStack
from pathlib import Path

from moneypath._common.atomic import replacing
from moneypath.catalog import Catalog
from moneypath.generate.export import argo_rollouts, flagger, kube, loadtest, mimir, prometheus, vm
from moneypath.generate.export.options import ExportError, LoadRun, Options

__all__ = ["PLATFORMS", "ROLLOUT_TOOLS", "RUNS", "ExportError", "LoadRun", "Options", "files", "write"]


# Each platform module: files(catalog, options) -> {relative path: content}; next_steps(catalog, options, out).
# PLATFORMS carry the rules, routing and dashboards (`init --platform` takes one); the rollout tools carry the
# canary gate, which needs the judge's URL.
PLATFORMS = {"prometheus": prometheus, "kube": kube, "mimir": mimir, "vm": vm}
ROLLOUT_TOOLS = {"argo-rollouts": argo_rollouts, "flagger": flagger}
RUNS = {"loadtest": loadtest}  # runs on a platform: a distributed load test on Kubernetes (a scenario file's block)


def files(c: Catalog, platform: str, options: Options | None = None) -> dict[str, str]:
    """Relative path → content of the platform's export (`options` None: every default); ExportError on an unknown
    platform or a bad option."""
    return _platform(platform).files(c, options or Options())


def next_steps(c: Catalog, platform: str, options: Options, out: str) -> list[str]:
    """What to run next with the files in `out`, and the platform's pitfalls, one line each."""
    return _platform(platform).next_steps(c, options, out)


def _platform(name: str):
    module = PLATFORMS.get(name) or ROLLOUT_TOOLS.get(name) or RUNS.get(name)
    if module is None:
        raise ExportError(f"unknown platform {name!r} (known: {', '.join([*PLATFORMS, *ROLLOUT_TOOLS, *RUNS])})")
    return module


def write(out: Path, rendered: dict[str, str]) -> list[str]:
    """Write every file under `out`; all or nothing: each file goes to a temporary file beside its target first,
    and only when all are written does any replace its target. Directories this call created are removed again
    on a failure. Returns the relative paths written."""
    for rel in rendered:  # a directory where a file goes would fail its replace after others were replaced
        if (out / rel).is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(out / rel))
    made: list[Path] = []
    try:
        with ExitStack() as replace_all:
            for rel, content in rendered.items():
                path = out / rel
                _make_dirs(path.parent, made)
                f = replace_all.enter_context(replacing(path))
                f.write(content)
                f.flush()  # a full disk says so now, before any file is replaced
    except BaseException:
        for d in reversed(made):
            try:
                d.rmdir()
            except OSError:
                pass
        raise
    return list(rendered)


def _make_dirs(path: Path, made: list[Path]) -> None:
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for p in reversed(missing):
        p.mkdir()
        made.append(p)
