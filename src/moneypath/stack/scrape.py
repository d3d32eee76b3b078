"""What a running local stack scrapes besides its own targets: a job another tool adds for a while (the load test's
Locust exporter), written into the stack's scrape configuration and reloaded, so no tool edits the stack's files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from moneypath._common import atomic, yamlio
from moneypath._common.prometheus import Prometheus, PrometheusError
from moneypath.stack.state import REPLICAS, StackError, StackState, load_state


def set_extra_scrape_targets(state_dir: Path, job: str, targets: Sequence[str],
                             labels: Mapping[str, str] | None = None) -> None:
    """Make the stack running from `state_dir` scrape `targets` as the job `job`, besides its own, each series
    carrying `labels` (e.g. a canary drill's track="canary"); no targets removes the job. Every scraper of the
    stack (each Prometheus replica, or VictoriaMetrics with engine vm, which reads the same prometheus.yml) gets the
    job and reloads its configuration (the stack starts them with reload on). StackError when no stack is recorded
    there, `job` is the stack's own, or a scraper refuses the reload."""
    state = load_state(state_dir.resolve())
    if state is None:
        raise StackError(f"no stack recorded in {state_dir}")
    for config, url in scrapers(state):
        _set_job(config, job, targets, labels)
        _reload(url)


def scrapers(state: StackState) -> list[tuple[Path, str]]:
    """Each scrape configuration file of the stack, with the URL of what reads it."""
    names = {p.name: p.url for p in state.parts}
    if state.engine == "vm":
        return [(Path(state.state_dir) / "prometheus.yml", names["victoriametrics"])]
    return [(Path(state.state_dir) / f"prometheus{r}.yml", names[f"prometheus{r}"]) for r in REPLICAS
            if f"prometheus{r}" in names]


def _set_job(path: Path, job: str, targets: Sequence[str], labels: Mapping[str, str] | None = None) -> None:
    try:
        config = yamlio.load(path.read_text())
    except OSError as exc:
        raise StackError(f"cannot read the stack's scrape configuration {path}: {exc.strerror}") from None
    jobs = config.get("scrape_configs", [])
    if jobs and jobs[0].get("job_name") == job:
        raise StackError(f"{job!r} is the stack's own scrape job: give the extra targets a job of their own")
    jobs = [j for j in jobs if j.get("job_name") != job]
    if targets:
        group = {"targets": list(targets), **({"labels": dict(labels)} if labels else {})}
        jobs.append({"job_name": job, "static_configs": [group]})
    config["scrape_configs"] = jobs
    atomic.write_text(path, yaml.safe_dump(config, sort_keys=False))


def _reload(prom_url: str) -> None:
    try:
        with Prometheus(prom_url, timeout_s=10) as prom:
            prom.reload()
    except PrometheusError as exc:
        if exc.cause is not None:
            raise StackError(f"cannot reload Prometheus at {prom_url}: {type(exc.cause).__name__}") from None
        raise StackError(f"Prometheus at {prom_url} refused the reload: {exc.status} {exc.error.strip()[:200]}") from None
