"""Game days: `moneypath export kube --gameday-*` writes a CronJob (batch/v1) valid against the vendored schema
(tests/schemas/batch_v1_cronjob.json, strict: a misspelt field is refused) that runs the drills against a named
environment with halt conditions, appending to the drill history on a volume; `moneypath drill run --halt-burn
--halt-alert` turns those conditions into every drill's halt_when."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import jsonschema
import pytest
import yaml

from moneypath.catalog import load_catalog
from moneypath.catalog.conventions import SLO_BUDGET_RECORD, sli_error_record
from moneypath.check.drill_files import load_drill
from moneypath.drills import gameday
from moneypath.drills.fault_switch import halt_condition
from moneypath.generate import export
from moneypath.generate.export.gameday import HISTORY_MOUNT
from moneypath.generate.export.gameday import files as gameday_files
from tests.conftest import CATALOG_PATH, ROOT, run_cli

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CRONJOB = json.loads((SCHEMAS / "batch_v1_cronjob.json").read_text())
PVC = json.loads((SCHEMAS / "core_v1_persistentvolumeclaim.json").read_text())
SHOP = ROOT / "tests" / "foreign" / "djangoshop" / "ops"
DRILLS = ("runbooks/drills/provider-partial-outage.yaml", "runbooks/drills/duplicate-charge.yaml")
GAMEDAY = export.Options(gameday_schedule="0 10 * * 2", gameday_environment="staging", gameday_drills=DRILLS,
                         gameday_image="registry.example/payments-ops:1.4",
                         gameday_halt_burn=(("authorization-availability", 14.4),),
                         gameday_halt_alerts=("MoneyPathLedgerImbalance",))


def _validate(doc: dict, schema: dict) -> None:
    jsonschema.Draft7Validator(schema).validate(doc)


def _docs(catalog, options=GAMEDAY) -> dict[str, dict]:
    """The game day's objects, as `export kube` writes them (without rendering the dashboards again)."""
    return {rel: yaml.safe_load(text) for rel, text in gameday_files(catalog, options, "monitoring").items()}


def _container(cronjob: dict) -> dict:
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]


def test_the_cronjob_and_its_claim_are_valid_and_listed_in_the_kustomization(catalog):
    rendered = export.files(catalog, "kube", GAMEDAY)
    docs = {rel: yaml.safe_load(text) for rel, text in rendered.items() if rel.startswith("gameday/")}
    assert docs == _docs(catalog)
    assert set(docs) == {"gameday/cronjob-staging.yaml", "gameday/drill-history-pvc.yaml"}
    cronjob, pvc = docs["gameday/cronjob-staging.yaml"], docs["gameday/drill-history-pvc.yaml"]
    _validate(cronjob, CRONJOB)
    _validate(pvc, PVC)
    assert set(docs) <= set(yaml.safe_load(rendered["kustomization.yaml"])["resources"])
    assert not [rel for rel in export.files(catalog, "kube") if rel.startswith("gameday/")]  # no schedule, none
    spec = cronjob["spec"]
    assert spec["schedule"] == "0 10 * * 2" and spec["timeZone"] == "Etc/UTC" and spec["concurrencyPolicy"] == "Forbid"
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["volumes"] == [{"name": "drill-history",
                               "persistentVolumeClaim": {"claimName": pvc["metadata"]["name"]}}]
    assert _container(cronjob)["volumeMounts"] == [{"name": "drill-history", "mountPath": HISTORY_MOUNT}]


def test_the_job_runs_the_drills_against_the_environment_with_the_halts_into_the_history(catalog):
    container = _container(_docs(catalog)["gameday/cronjob-staging.yaml"])
    args = container["args"]
    assert container["command"] == ["moneypath"] and args[:4] == ["drill", "run", *DRILLS]
    line = shlex.join(args)
    assert f"--history {HISTORY_MOUNT}" in line  # the environment: MONEYPATH_ENVIRONMENT (drill run's option moved)
    assert f"--reports {HISTORY_MOUNT}/reports" in line and "--time-factor 1" in line
    assert "--halt-burn authorization-availability=14.4" in line and "--halt-alert MoneyPathLedgerImbalance" in line
    assert {"name": "MONEYPATH_ENVIRONMENT", "value": "staging"} in container["env"]
    assert container["envFrom"][0] == {"configMapRef": {"name": "moneypath-gameday-staging"}}


def test_the_jobs_arguments_are_what_moneypath_drill_run_accepts(catalog):
    from moneypath.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(_container(_docs(catalog)["gameday/cronjob-staging.yaml"])["args"])
    assert args.files == list(DRILLS) and args.halt_burn == ["authorization-availability=14.4"]
    assert args.halt_alert == ["MoneyPathLedgerImbalance"] and args.time_factor == 1.0


@pytest.mark.parametrize("path, key", [
    (("spec", "jobTemplate", "spec", "template", "spec", "containers", 0), "volumeMount"),
    (("spec",), "concurencyPolicy"),
    (("spec", "jobTemplate", "spec"), "backofLimit"),
    (("spec", "jobTemplate", "spec", "template", "spec", "volumes", 0, "persistentVolumeClaim"), "claim"),
])
def test_a_misspelt_field_is_refused_by_the_schema(catalog, path, key):
    doc = _docs(catalog)["gameday/cronjob-staging.yaml"]
    node = doc
    for part in path:
        node = node[part]
    node[key] = node.get(key, 1) if key != "claim" else "x"
    with pytest.raises(jsonschema.ValidationError, match=key):
        _validate(doc, CRONJOB)


def test_the_teams_own_claim_is_mounted_and_none_is_made(catalog):
    docs = _docs(catalog, dataclasses.replace(GAMEDAY, gameday_history_claim="ops-history"))
    assert list(docs) == ["gameday/cronjob-staging.yaml"]
    pod = docs["gameday/cronjob-staging.yaml"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": "ops-history"}


# ---------------------------------------------------------------- halt conditions


def test_halts_join_every_fault_drill_but_not_on_the_alert_a_drill_rehearses(catalog):
    drills = [load_drill(ROOT / d, catalog, ROOT) for d in ("runbooks/drills/provider-partial-outage.yaml",
                                                            "runbooks/drills/duplicate-charge.yaml",
                                                            "runbooks/drills/healthy-baseline-peak.yaml")]
    before = [len(d.fault.halt_when) if d.fault else 0 for d in drills]
    lines = gameday.add_halts(drills, catalog, {"authorization-availability": 14.4},
                              ["DuplicateChargeDetected"])
    added = [len(d.fault.halt_when) - n if d.fault else None for d, n in zip(drills, before, strict=True)]
    assert added == [2, 1, None]  # duplicate-charge expects DuplicateChargeDetected: it is not halted on it
    assert "not on MoneyPathDuplicateChargeDetected" in lines[1] and "no fault" in lines[2]
    burn = drills[0].fault.halt_when[-2]
    assert sli_error_record(gameday.BURN_WINDOW) in burn.promql and SLO_BUDGET_RECORD in burn.promql
    assert '{slo="authorization-availability"}' in burn.promql
    assert halt_condition(burn, [({}, 20.0)])[0] is True and halt_condition(burn, [({}, 3.0)])[0] is False
    assert halt_condition(burn, [])[0] is None  # nothing recorded: it cannot halt, and says so
    alert = drills[0].fault.halt_when[-1]
    assert alert.promql == 'ALERTS{alertname="MoneyPathDuplicateChargeDetected"}'
    assert halt_condition(alert, [({"alertstate": "pending"}, 1.0)])[0] is True
    assert halt_condition(alert, [])[0] is False


@pytest.mark.parametrize("burns, alerts, words", [
    (["authorisation-availability=14.4"], [], "not an SLO of the catalog; did you mean authorization-availability?"),
    (["authorization-availability"], [], "not SLO=FACTOR"),
    (["authorization-availability=0"], [], "not SLO=FACTOR"),
    ([], ["LedgerImbalanced"], "'LedgerImbalanced' is not an alert the catalog generates"),
])
def test_a_halt_naming_what_the_catalog_lacks_is_one_line(catalog, burns, alerts, words):
    with pytest.raises(gameday.HaltError, match=words):
        gameday.halt_checks(catalog, gameday.parse_burns(burns), alerts)


def test_drill_run_refuses_a_bad_halt_before_anything_starts():
    r = run_cli("drill", "run", "runbooks/drills/duplicate-charge.yaml", "--halt-burn", "nope=2")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "'nope' is not an SLO" in r.stderr


# ---------------------------------------------------------------- the command


def _config(tmp_path, flags: list[str]) -> list[str]:
    """The export's game day, given as the run config's gameday: section (it was --gameday-* options): the
    `--config FILE` to pass."""
    keys: dict[str, object] = {}
    key = None
    for arg in flags:
        if arg.startswith("--gameday-"):
            key = arg.removeprefix("--gameday-").replace("-", "_")
            if key in ("drills", "halt_burn", "halt_alert"):
                keys.setdefault(key, [])
            continue
        if isinstance(keys.get(key), list):
            keys[key].append(arg)
        else:
            keys[key] = arg
    path = tmp_path / "moneypath.run.yaml"
    path.write_text(yaml.safe_dump({"gameday": keys}, sort_keys=False))
    return ["--config", str(path)]


def test_export_kube_writes_the_game_day_and_says_what_to_create_first(tmp_path):
    out = tmp_path / "deploy"
    r = run_cli("export", "kube", "--catalog", str(CATALOG_PATH), "--out", str(out), *_config(tmp_path, [
                "--gameday-schedule", "@weekly", "--gameday-environment", "staging", "--gameday-drills", *DRILLS,
                "--gameday-image", "ops:1", "--gameday-halt-alert", "LedgerImbalance"]))
    assert r.returncode == 0, r.stderr
    cronjob = yaml.safe_load((out / "gameday" / "cronjob-staging.yaml").read_text())
    _validate(cronjob, CRONJOB)
    assert "--halt-alert" in _container(cronjob)["args"] and "MoneyPathLedgerImbalance" in _container(cronjob)["args"]
    assert "create ConfigMap moneypath-gameday-staging" in r.stdout


def test_the_django_shops_game_day(tmp_path):
    shop = load_catalog(SHOP / "moneypath.yaml")
    drill = "runbooks/drills/shopproviderpartialoutage.yaml"
    r = run_cli("export", "kube", "--catalog", str(SHOP / "moneypath.yaml"), "--out", str(tmp_path / "k"),
                *_config(tmp_path, ["--gameday-schedule", "30 9 * * MON-FRI", "--gameday-environment", "shop-staging",
                                    "--gameday-drills", drill, "--gameday-image", "shop-ops:2", "--gameday-halt-burn",
                                    f"{next(iter(shop.slos))}=6"]))
    assert r.returncode == 0, r.stderr
    cronjob = yaml.safe_load((tmp_path / "k" / "gameday" / "cronjob-shop-staging.yaml").read_text())
    _validate(cronjob, CRONJOB)
    assert _container(cronjob)["args"][2] == drill and cronjob["spec"]["schedule"] == "30 9 * * MON-FRI"


@pytest.mark.parametrize("args, words", [
    (["--gameday-schedule", "0 25 * * *"], "'25' is not a hour"),
    (["--gameday-schedule", "0 10 * *"], "not a cron schedule"),
    (["--gameday-schedule", "TZ=UTC 0 10 * * 2"], "not a cron schedule"),
    (["--gameday-schedule", "@weekly", "--gameday-halt-burn", "x=1"], "'x' is not an SLO"),
    (["--gameday-schedule", "@weekly", "--gameday-drills", "runbooks/drills/nope.yaml"], "gameday.drills: "),
    (["--gameday-schedule", "@weekly", "--gameday-environment", "Staging"], "lower-case letters"),
    (["--gameday-environment", "staging"], "gameday.environment goes with gameday.schedule"),
])
def test_bad_game_day_options_are_one_line_exit_2_and_write_nothing(tmp_path, args, words):
    base = {"--gameday-environment": "staging", "--gameday-image": "ops:1",
            "--gameday-halt-alert": "LedgerImbalance"}
    given = dict(base) if "--gameday-schedule" in args else {}
    for k in [a for a in args if a.startswith("--")]:
        given.pop(k, None)
    extra = [x for k, v in given.items() for x in (k, v)]
    drills = [] if "--gameday-drills" in args or "--gameday-schedule" not in args else ["--gameday-drills", *DRILLS]
    out = tmp_path / "out"
    r = run_cli("export", "kube", "--catalog", str(CATALOG_PATH), "--out", str(out),
                *_config(tmp_path, [*args, *extra, *drills]))
    assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not out.exists()


def test_no_halt_condition_no_game_day(catalog, tmp_path):
    with pytest.raises(export.ExportError, match="at least one halt condition"):
        gameday_files(catalog, dataclasses.replace(GAMEDAY, gameday_halt_burn=(), gameday_halt_alerts=()), "m")
    r = run_cli("export", "mimir", "--catalog", str(CATALOG_PATH), *_config(tmp_path, ["--gameday-schedule", "@daily"]))
    assert r.returncode == 2 and "moneypath export kube" in r.stderr


def test_the_pages_game_day_runs_as_written(tmp_path):
    """docs/evidence.md's game day: its run config and `moneypath export kube`, in a copy of the shipped project."""
    import shutil

    from tests.docs_examples import code_block, sessions

    shutil.copy(CATALOG_PATH, tmp_path / "moneypath.yaml")
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    (tmp_path / "moneypath.run.yaml").write_text(code_block("docs/evidence.md", "Game days", "yaml"))
    [(argv, shown)] = sessions(code_block("docs/evidence.md", "Game days", "console"))
    r = run_cli(*argv[1:], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [line for line in shown if line not in r.stdout] == []
    _validate(yaml.safe_load((tmp_path / "deploy/kube/gameday/cronjob-staging.yaml").read_text()), CRONJOB)
