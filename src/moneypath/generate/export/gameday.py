"""Game days on a schedule: a Kubernetes CronJob (batch/v1) that runs a set of drills against a named environment
with halt conditions, writing every run to the drill history on a volume (`moneypath export kube` with a gameday:
section in moneypath.run.yaml).

The job runs `moneypath drill run FILES --history DIR --reports DIR/reports --time-factor 1
--halt-burn SLO=FACTOR ... --halt-alert ALERT ...` in an image holding moneypath and the team's project. The
environment's URLs come from a ConfigMap of MONEYPATH_TARGET_* keys, its tokens from an optional Secret of the
same name; the history lives on a PersistentVolumeClaim (made here, or the team's own), so every game day
appends to the same chain and `moneypath evidence` reads it. concurrencyPolicy Forbid: two game days never
overlap on one environment; backoffLimit 0: a failed game day is not retried, as a retry is a second incident.
"""

from __future__ import annotations

import re

from moneypath.catalog import Catalog
from moneypath.generate.export import k8s
from moneypath.generate.export.options import ExportError, Options

HISTORY_MOUNT = "/var/lib/moneypath/drill-history"
DEADLINE_S = 4 * 3600  # a game day that runs longer than this is stopped by Kubernetes
HISTORY_SIZE = "1Gi"
FS_GROUP = 1000  # the history volume is writable by this group, whatever user the image runs as

_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
           ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
           ("day of week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")))


def check_schedule(schedule: str) -> str:
    """A schedule Kubernetes' cron parser takes: five fields (numbers, names, *, ranges, steps, lists) or a macro."""
    text = schedule.strip()
    if text in _MACROS:
        return text
    fields = text.split()
    if len(fields) != 5 or text.startswith(("TZ=", "CRON_TZ=")):
        raise ExportError(f"gameday.schedule: {schedule!r} is not a cron schedule (five fields: minute hour "
                          "day-of-month month day-of-week, e.g. '0 10 * * 2'; or @daily, @weekly, ...; the time zone "
                          "goes in gameday.time_zone)")
    for value, (what, low, high, names) in zip(fields, _FIELDS, strict=True):
        for part in value.split(","):
            if not _cron_part(part, low, high, names):
                raise ExportError(f"gameday.schedule: {schedule!r}: {part!r} is not a {what} ({low}-{high}"
                                  f"{', ' + '/'.join(names[:3]) + '...' if names else ''}, *, a-b, */n)")
    return text


def _cron_part(part: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    base, _, step = part.partition("/")
    if step and not (step.isdigit() and int(step) > 0):
        return False
    if base in ("*", "?"):
        return True
    ends = base.split("-")
    if len(ends) > 2:
        return False

    def value(v: str) -> int | None:
        if v.upper() in names:
            return names.index(v.upper()) + low
        return int(v) if v.isdigit() and low <= int(v) <= high else None

    got = [value(v) for v in ends]
    return None not in got and (len(got) == 1 or got[0] <= got[1])


def object_names(c: Catalog, environment: str) -> dict[str, str]:
    base = k8s.object_name(c.namespace, "gameday", environment)
    return {"cronjob": base, "targets": base, "claim": k8s.object_name(c.namespace, "drill-history")}


def _args(options: Options) -> list[str]:
    args = ["drill", "run", *options.gameday_drills,  # the record's environment: $MONEYPATH_ENVIRONMENT, below
            "--history", HISTORY_MOUNT, "--reports", f"{HISTORY_MOUNT}/reports", "--state-dir", "/tmp/moneypath",
            "--time-factor", "1"]
    for slo, factor in options.gameday_halt_burn:
        args += ["--halt-burn", f"{slo}={factor:g}"]
    for alert in options.gameday_halt_alerts:
        args += ["--halt-alert", alert]
    return args


def files(c: Catalog, options: Options, namespace: str) -> dict[str, str]:
    """cronjob-<environment>.yaml and, unless the team's claim is given, drill-history-pvc.yaml."""
    schedule = check_schedule(options.gameday_schedule or "")
    environment = options.gameday_environment
    if not environment or not options.gameday_drills or not options.gameday_image:
        raise ExportError("gameday.schedule needs gameday.environment, gameday.drills and gameday.image")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", environment) or len(environment) > 40:
        raise ExportError(f"gameday.environment: {environment!r} names Kubernetes objects: lower-case letters, "
                          "digits and -, at most 40")
    if not options.gameday_halt_burn and not options.gameday_halt_alerts:
        raise ExportError("a game day runs against a real environment: give at least one halt condition "
                          "(gameday.halt_burn SLO=FACTOR or gameday.halt_alert ALERT)")
    names = object_names(c, environment)
    claim = k8s.check_name(options.gameday_history_claim or names["claim"])
    labels = {"app.kubernetes.io/name": "moneypath-gameday", "app.kubernetes.io/part-of": k8s.object_name(c.namespace),
              "moneypath/environment": environment}
    container = {
        "name": "gameday", "image": options.gameday_image, "command": ["moneypath"], "args": _args(options),
        "env": [{"name": "MONEYPATH_ENVIRONMENT", "value": environment},
                {"name": "MONEYPATH_HISTORY", "value": HISTORY_MOUNT}],
        "envFrom": [{"configMapRef": {"name": names["targets"]}},
                    {"secretRef": {"name": names["targets"], "optional": True}}],
        "volumeMounts": [{"name": "drill-history", "mountPath": HISTORY_MOUNT}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod = {"restartPolicy": "Never",
           "securityContext": {"runAsNonRoot": True, "fsGroup": FS_GROUP, "seccompProfile": {"type": "RuntimeDefault"}},
           "containers": [container],
           "volumes": [{"name": "drill-history", "persistentVolumeClaim": {"claimName": claim}}]}
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob",
               "metadata": k8s.metadata(names["cronjob"], namespace, labels),
               "spec": {"schedule": schedule, "timeZone": options.gameday_time_zone, "concurrencyPolicy": "Forbid",
                        "startingDeadlineSeconds": 3600, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
                        "jobTemplate": {"metadata": {"labels": labels},
                                        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": DEADLINE_S,
                                                 "template": {"metadata": {"labels": labels}, "spec": pod}}}}}
    header = k8s.header(c, "kube")
    targets = names["targets"]
    note = (f"# A game day against {environment}: the drills' faults are real there. Before applying, give the "
            f"environment's URLs\n# and tokens (keys MONEYPATH_TARGET_SERVICE, _PROMETHEUS, _ALERTMANAGER or _PAGER, "
            f"and _FAULTPROXY, _PROVIDERSIM\n# as the drills need; the tokens as `moneypath drill run --help` says):\n"
            f"#   kubectl -n {namespace} create configmap {targets} --from-literal=MONEYPATH_TARGET_SERVICE=URL "
            f"--from-literal=MONEYPATH_TARGET_PROMETHEUS=URL --from-literal=MONEYPATH_TARGET_ALERTMANAGER=URL\n"
            f"#   kubectl -n {namespace} create secret generic {targets} --from-literal=MONEYPATH_TOKEN_SECRET=...\n"
            f"# Every run appends to the drill history on claim {claim} at {HISTORY_MOUNT}; the reports go beside "
            "it.\n")
    out = {f"gameday/cronjob-{environment}.yaml": header + note + k8s.dump(cronjob)}
    if options.gameday_history_claim is None:
        pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": k8s.metadata(claim, namespace, {"app.kubernetes.io/part-of": labels[
                   "app.kubernetes.io/part-of"]}),
               "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": HISTORY_SIZE}}}}
        out["gameday/drill-history-pvc.yaml"] = (
            header + "# The drill history every game day appends to (and `moneypath evidence` reads: copy it out "
                     "with\n# kubectl cp, or run the evidence from a pod mounting it). Keep it: deleting the claim "
                     "deletes the record.\n" + k8s.dump(pvc))
    return out


def next_steps(c: Catalog, options: Options, namespace: str) -> list[str]:
    names = object_names(c, options.gameday_environment or "")
    return [f"game day: CronJob {names['cronjob']} runs {len(options.gameday_drills)} drill(s) against "
            f"{options.gameday_environment} on '{options.gameday_schedule}' ({options.gameday_time_zone}); create "
            f"ConfigMap {names['targets']} (MONEYPATH_TARGET_* URLs) and its Secret first (see the file's header)",
            f"game day: the history is on claim {options.gameday_history_claim or names['claim']} at "
            f"{HISTORY_MOUNT}; `moneypath evidence --history` reads a copy of it"]
