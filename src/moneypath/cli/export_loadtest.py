"""`moneypath export loadtest [SCENARIO_FILE]`: a distributed load test for Kubernetes, its settings from the
scenario file's kubernetes: block (moneypath.formats.scenario_kubernetes), not from options of `export`.

Reads the scenario file (default: loadtests/scenarios.yaml beside the catalog, where `moneypath init` writes it),
checks it against the catalog, and collects the files the pods read, each at its path inside the project (the
catalog's directory): the catalog, the scenario file, the locustfile and the block's `files`. A problem is one
line naming the file, the line and the key (ValueError).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from moneypath.formats import scenarios
from moneypath.formats.scenarios import SCENARIO_FILE, ScenarioError

REPORT_MARGIN_S = 1800  # the master Job's deadline past the workers' wait and the run: the judging and the report


def scenario_file(args, catalog) -> Path:
    root = Path(catalog.path).resolve().parent
    return Path(args.file) if args.file else root / SCENARIO_FILE


def _resources(resources) -> dict:
    return {k: v for k, v in resources.model_dump().items() if v}


def options(args, catalog, base):
    """`base` with the load run of the scenario file's kubernetes: block (ValueError, one line)."""
    from moneypath.generate.export import LoadRun
    from moneypath.loadtest.in_locust.shape import duration_of

    if args.namespace is not None:
        raise ValueError("--namespace: a load test's namespace is kubernetes.namespace in its scenario file")
    path = scenario_file(args, catalog)
    try:
        spec = scenarios.load(path, catalog)
    except ScenarioError as exc:
        raise ValueError(str(exc)) from None
    text = path.read_text(encoding="utf-8")
    block = spec.kubernetes
    if block is None:
        raise ValueError(f"{path}: no kubernetes: block: it holds the settings of `export loadtest` (scenario, "
                         "workers, image, target; docs/load-tests.md, On Kubernetes)")
    root = Path(catalog.path).resolve().parent
    files: dict[str, bytes] = {Path(catalog.path).resolve().relative_to(root).as_posix():
                               Path(catalog.path).read_bytes()}

    def take(file: Path, where: str) -> str:
        """`file`'s path inside the project, its bytes kept for the ConfigMap."""
        try:
            rel = file.resolve().relative_to(root).as_posix()
        except ValueError:
            raise ValueError(f"{where}{file} is outside the project ({root}, the catalog's directory), whose files "
                             "the pods get at the same paths") from None
        if not file.is_file():
            raise ValueError(f"{where}{file}: no such file")
        files[rel] = file.read_bytes()
        return rel

    def key(*loc) -> str:
        return f"{scenarios.located(str(path), text, loc)}: {'.'.join(str(p) for p in loc)}: "

    scenario_rel = take(path, "the scenario file: ")
    locustfile_rel = take(path.parent / block.locustfile, key("kubernetes", "locustfile"))
    for i, extra in enumerate(block.files):
        take(path.parent / extra, key("kubernetes", "files", i))
    scenario = spec.get(block.scenario)
    for fault in scenario.faults:
        if fault.at in ("faultproxy", "providersim") and getattr(block.target, fault.at) is None:
            raise ValueError(f"{scenarios.located(str(path), text, ('kubernetes', 'target'))}: kubernetes.target: "
                             f"scenario {block.scenario} sets faults at {fault.at}: give target.{fault.at} (its URL)")
    duration = duration_of(spec, scenario, block.duration_s)
    run = LoadRun(
        scenario=block.scenario, workers=block.workers, image=block.image, namespace=block.namespace,
        host=block.target.service, files=tuple(files.items()), locustfile=locustfile_rel, scenario_file=scenario_rel,
        catalog=next(iter(files)), prometheus=block.target.prometheus, faultproxy=block.target.faultproxy,
        providersim=block.target.providersim, token_secret=block.token_secret, rate=block.rate, users=block.users,
        duration_s=block.duration_s, wait_workers_s=block.wait_workers_s,
        deadline_s=int(block.wait_workers_s + duration + REPORT_MARGIN_S),
        worker_resources=_resources(block.worker_resources), master_resources=_resources(block.master_resources),
        report_claim=block.report_claim)
    return dataclasses.replace(base, loadtest=run)
