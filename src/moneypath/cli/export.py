"""`moneypath export <platform>`: the generated rules, routing and dashboards in a platform's native form."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from moneypath._common.exit_codes import ExitCode
from moneypath.generate.routing import DEFAULT_PAGER_URL

EPILOG = """platforms:
  prometheus  the files `moneypath build` writes (rule files, alertmanager.yml, dashboards, provisioning)
  kube        kube-prometheus-stack: PrometheusRule, AlertmanagerConfig, one dashboard ConfigMap per
              dashboard for Grafana's sidecar, kustomization.yaml (kubectl apply --server-side -k DIR)
  mimir       Grafana Mimir/Cortex ruler: rules/<namespace>.yaml for `mimirtool rules load` or `sync`
  vm          VictoriaMetrics: a VMRule for the operator and vmalert rule files (rules/*.yaml)
  argo-rollouts  Argo Rollouts: analysis-templates.yaml, the judge's verdict (GET URL/v1/verdict) for an
              analysis step and the money invariants for the background analysis
  flagger     Flagger: a MetricTemplate per money invariant and a Canary (needs --target) whose webhooks
              call the judge: POST URL/v1/flagger/check and URL/v1/flagger/confirm-promotion
              (URL: --judge-url, where `moneypath canary serve` answers)
  loadtest    a distributed load test on Kubernetes: a master Job, a worker Deployment, a Service, a ConfigMap
              of the locustfile, scenario file and catalog, a claim for the reports; its settings from the
              scenario file's kubernetes: block (SCENARIO_FILE, default loadtests/scenarios.yaml beside the
              catalog; docs/load-tests.md)

examples:
  moneypath export kube --namespace monitoring --label release=prom-stack
  moneypath export mimir --tenant payments --out deploy/mimir
  moneypath export vm --namespace vm
  moneypath export argo-rollouts --judge-url http://moneypath-judge.payments:8080 --namespace payments
  moneypath export flagger --judge-url http://moneypath-judge.payments:8080 --target payments --out -
  moneypath export loadtest loadtests/scenarios.yaml --out deploy/loadtest
  moneypath export kube    # with a gameday: section in moneypath.run.yaml: also the game day's CronJob

game days (kube): a CronJob running drills against a named environment on a schedule, with halt
conditions, appending every run to the drill history on a volume (docs/evidence.md), from the run
config's gameday: section (schedule, environment, drills, image, halt_burn, halt_alert, history_claim,
time_zone; docs/configuration.md).

Every file is written, or none is."""


def add_commands(commands, catalog_arg, state_arg) -> None:
    export = commands.add_parser(
        "export", help="write the rules, routing and dashboards for Kubernetes, Mimir or VictoriaMetrics, "
                                 "and the canary gate for Argo Rollouts or Flagger",
        description="Translate what `moneypath build` generates into a platform's native objects: nothing is "
                    "generated differently, so the alerts are the same everywhere.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("platform", metavar="PLATFORM", help="prometheus, kube, mimir, vm, argo-rollouts, flagger "
                        "or loadtest (below)")
    export.add_argument("file", metavar="SCENARIO_FILE", nargs="?",
                        help="loadtest: the scenario file whose kubernetes: block sets the run (default: "
                             "loadtests/scenarios.yaml beside the catalog)")
    catalog_arg(export)
    export.add_argument("--out", metavar="DIR", help="directory to write into (default: deploy/PLATFORM); - writes "
                        "every file to stdout instead, one YAML stream")
    export.add_argument("--namespace", metavar="NS",
                        help="kube, vm: the Kubernetes namespace of every object (default: monitoring); mimir: the "
                             "ruler namespace, which names the file (default: the catalog's namespace); "
                             "argo-rollouts, flagger: the application's namespace (default: default)")
    export.add_argument("--label", metavar="KEY=VALUE", action="append", default=None,
                        help="kube, vm: a label on the rule objects, repeatable; it must match the ruleSelector of "
                             "your Prometheus/VMAlert (kube default: release=kube-prometheus-stack, which a "
                             "kube-prometheus-stack release of that name selects; vm default: none). Giving one "
                             "replaces the default")
    export.add_argument("--folder", metavar="NAME",
                        help="kube: the Grafana folder for the dashboards (default: Money path, as `build`)")
    export.add_argument("--folder-annotation", metavar="KEY", default="grafana_folder",
                        help="kube: the annotation Grafana's sidecar reads the folder from "
                             "(sidecar.dashboards.folderAnnotation; default grafana_folder)")
    export.add_argument("--dashboard-label", metavar="KEY=VALUE", action="append", default=None,
                        help="kube: the label Grafana's sidecar loads dashboard ConfigMaps by, repeatable "
                             "(sidecar.dashboards.label/labelValue; default grafana_dashboard=1)")
    export.add_argument("--tenant", metavar="ID", default="anonymous",
                        help="mimir: the tenant (X-Scope-OrgID, mimirtool --id) shown in the load commands "
                             "(default: anonymous, Mimir's tenant with multi-tenancy off)")
    export.add_argument("--pager-url", metavar="URL", default=DEFAULT_PAGER_URL,
                        help="kube: base URL of the receivers' webhooks in the AlertmanagerConfig, as in "
                             f"alerts/alertmanager.yml (default {DEFAULT_PAGER_URL}, `moneypath pager`); unused "
                             "when the catalog's receivers declare their deliveries (pagerduty, opsgenie, slack, "
                             "webhook), which the AlertmanagerConfig then carries")
    canary = export.add_argument_group("argo-rollouts and flagger (the canary gate)")
    canary.add_argument("--judge-url", metavar="URL",
                        help="required: the http(s) base URL of `moneypath canary serve` as the rollout controller "
                             "reaches it (the paths the templates call: below)")
    canary.add_argument("--name", metavar="NAME",
                        help="prefix of the objects' names (default: the catalog's service, then -canary)")
    canary.add_argument("--selector-label", metavar="LABEL",
                        help="the Prometheus label telling canary pods from baseline ones (argo-rollouts default: "
                             "rollouts_pod_template_hash, the pod label Argo sets; flagger default: pod, the pod "
                             "name, canary <target>-… against <target>-primary-…)")
    canary.add_argument("--prometheus-url", metavar="URL",
                        help="the Prometheus the tools' own providers query for the money invariants (default: "
                             "http://prometheus-operated.monitoring.svc:9090, kube-prometheus-stack's)")
    canary.add_argument("--target", metavar="NAME", help="flagger, required: the Deployment the Canary manages")
    canary.add_argument("--port", metavar="N", type=int, default=80,
                        help="flagger: the Canary's service port (default 80)")
    export.set_defaults(run=_run)


def _pairs(values: list[str] | None, option: str) -> dict[str, str] | None:
    if values is None:
        return None
    out = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise ValueError(f"{option}: {value!r} is not KEY=VALUE (e.g. {option} release=kube-prometheus-stack)")
        out[key] = val
    return out


GAMEDAY = ("schedule", "environment", "drills", "image", "halt_burn", "halt_alert", "history_claim", "time_zone")


def _gameday(args, catalog, options):
    """The run config's game day (gameday.*), its halt conditions and drill files checked against the catalog
    (ValueError)."""
    import dataclasses

    from moneypath.cli.where import value

    day = {o: value(args, f"gameday.{o}") for o in GAMEDAY}
    given = [o for o in GAMEDAY[1:-1] if day[o]]
    if day["schedule"] is None:
        if given:
            raise ValueError(f"gameday.{given[0]} goes with gameday.schedule")
        return options
    if args.platform != "kube":
        raise ValueError("gameday.schedule: game days are a Kubernetes CronJob (moneypath export kube)")
    from moneypath.check.drill_files import load_drill
    from moneypath.drills.gameday import halt_checks, parse_burns
    from moneypath.formats.drill import DrillError

    burns = parse_burns(day["halt_burn"])
    alerts = [alert for _check, alert in halt_checks(catalog, burns, day["halt_alert"]) if alert]
    root = Path(catalog.path).resolve().parent
    for path in day["drills"]:
        try:
            load_drill(root / path if not Path(path).is_absolute() else Path(path), catalog, root)
        except DrillError as exc:
            raise ValueError(f"gameday.drills: {exc.problems[0]}") from None
    drills = tuple(Path(p).relative_to(root).as_posix() if Path(p).is_absolute() else p for p in day["drills"])
    return dataclasses.replace(
        options, gameday_schedule=day["schedule"], gameday_environment=day["environment"], gameday_drills=drills,
        gameday_image=day["image"], gameday_halt_burn=tuple(burns.items()), gameday_halt_alerts=tuple(alerts),
        gameday_history_claim=day["history_claim"], gameday_time_zone=day["time_zone"])


def _located(args, message: str) -> str:
    """`message`, led by the run config's file and line when it names one of its gameday keys."""
    from moneypath.cli.where import settings

    key = message.split(":", 1)[0].split(" ", 1)[0]
    merged = settings(args)
    return f"{merged.located(key)}: {message}" if key.startswith("gameday.") and merged.located(key) else message


def _run(args) -> int:
    from moneypath.catalog import load_catalog
    from moneypath.generate import export

    try:
        options = export.Options(
            namespace=args.namespace, labels=_pairs(args.label, "--label"), folder=args.folder,
            folder_annotation=args.folder_annotation, tenant=args.tenant, pager_url=args.pager_url,
            judge_url=args.judge_url, name=args.name, selector_label=args.selector_label,
            prometheus_url=args.prometheus_url, target=args.target, port=args.port,
            **({"dashboard_labels": d} if (d := _pairs(args.dashboard_label, "--dashboard-label")) else {}))
        catalog = load_catalog(args.catalog)
        options = _gameday(args, catalog, options)
        if args.platform == "loadtest":
            from moneypath.cli import export_loadtest

            options = export_loadtest.options(args, catalog, options)
        elif args.file is not None:
            raise ValueError(f"{args.file}: only `export loadtest` takes a file (its scenario file)")
        rendered = export.files(catalog, args.platform, options)
    except ValueError as exc:  # ExportError included; a game day's: the run config's file, line and key
        print(f"moneypath export: {_located(args, str(exc))}", file=sys.stderr)
        return ExitCode.USAGE
    if args.out == "-":
        sys.stdout.write("---\n".join(rendered.values()))
        return 0
    out = Path(args.out or f"deploy/{args.platform}")
    try:
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(out))
        written = export.write(out, rendered)
    except OSError as exc:
        print(f"moneypath export: cannot write {exc.filename or out}: {exc.strerror or exc}; nothing was written",
              file=sys.stderr)
        return ExitCode.FAIL
    for rel in written:
        print(f"wrote {out / rel}")
    for line in export.next_steps(catalog, args.platform, options, str(out)):
        print(line)
    return 0
