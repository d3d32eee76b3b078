"""`moneypath drill check | run` with canary drill files (moneypath.cli.canary_drill): checked beside incident drills,
each bad one a line naming file, line and key; several runs' exit codes combine worst first."""

from __future__ import annotations

from moneypath.cli import main
from moneypath.cli.canary_drill import worst_exit
from tests.conftest import ROOT

DRILLS = ROOT / "runbooks" / "drills"


def test_drill_check_takes_canary_files_beside_incident_drills(capsys):
    files = [str(DRILLS / "canary-releases.yaml"), str(DRILLS / "duplicate-charge.yaml")]
    assert main(["drill", "check", *files, "--catalog", str(ROOT / "moneypath.yaml")]) == 0
    out = capsys.readouterr().out
    assert "canary-releases.yaml: OK — canary drill, 80 payments/s, 50% to the canary, 7 release(s): latency (fail)" \
        in out and "duplicate-charge.yaml: OK — rehearses" in out


def test_a_bad_canary_file_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "canary.yaml"
    bad.write_text((DRILLS / "canary-releases.yaml").read_text().replace("weight: 0.5\n", "weight: 2\n")
                   .replace("requests/reference.yaml", str(DRILLS / "requests" / "reference.yaml")))
    assert main(["drill", "check", str(bad), "--catalog", str(ROOT / "moneypath.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(":11: weight: Input should be less than 1"), err


def test_exit_codes_combine_worst_first():
    assert worst_exit(0, 0) == 0 and worst_exit(0, 3) == 3 and worst_exit(3, 1) == 1 and worst_exit(1, 2) == 2
    assert worst_exit(130, 1) == 130
