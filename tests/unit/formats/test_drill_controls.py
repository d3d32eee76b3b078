"""A drill file's `controls:`: ids from moneypath.formats.controls, an unknown one refused with the file, the line,
the key and the nearest id; every shipped drill declares what its runs are evidence of."""

from __future__ import annotations

import pytest

from moneypath.formats.controls import CONTROLS
from moneypath.formats.drill import DrillError, drill_files, read_drill
from tests.conftest import ROOT

DRILL = ROOT / "runbooks" / "drills" / "duplicate-charge.yaml"


def _with_controls(tmp_path, line: str):
    text = DRILL.read_text()
    text = "\n".join(x for x in text.splitlines() if not x.startswith("controls:"))
    path = tmp_path / "runbooks" / "drills" / "x.yaml"
    path.parent.mkdir(parents=True)
    (path.parent / "requests").symlink_to(DRILL.parent / "requests")
    path.write_text(text.replace("title: A customer is charged twice\n", f"title: A customer is charged twice\n{line}\n"))
    return path


def test_the_table_holds_the_ten_controls_each_with_a_title_and_what_it_asks():
    assert list(CONTROLS) == ["PCI-DSS-12.10.1", "PCI-DSS-12.10.2", "PCI-DSS-12.10.5", "PCI-DSS-12.10.6",
                              "PCI-DSS-12.10.7", "DORA-Art11", "DORA-Art25", "SYSC-15A", "SOC2-CC7.4", "SOC2-CC7.5"]
    assert all(c.title and c.asks and "\n" not in c.asks for c in CONTROLS.values())


def test_declared_controls_are_read(tmp_path):
    drill = read_drill(_with_controls(tmp_path, "controls: [PCI-DSS-12.10.2, SOC2-CC7.4]"), tmp_path)
    assert drill.controls == ["PCI-DSS-12.10.2", "SOC2-CC7.4"]


@pytest.mark.parametrize("line, words", [
    ("controls: [PCI-DSS-12.10.2, PCI-DSS-12.10.9]",
     "runbooks/drills/x.yaml:4: controls.1: 'PCI-DSS-12.10.9' is not a control; did you mean PCI-DSS-12.10.7?"),
    ("controls:\n  - SOC2-CC7.4\n  - DORA-Art12",
     "runbooks/drills/x.yaml:6: controls.1: 'DORA-Art12' is not a control"),
])
def test_an_unknown_control_names_the_file_line_key_and_the_nearest(tmp_path, line, words):
    with pytest.raises(DrillError) as exc:
        read_drill(_with_controls(tmp_path, line), tmp_path)
    assert len(exc.value.problems) == 1 and exc.value.problems[0].startswith(words)


def test_every_shipped_drill_declares_controls_and_the_pan_and_lessons_controls_are_left_to_other_evidence():
    declared = {path.name: read_drill(path, ROOT).controls for path in drill_files(ROOT)}
    assert all(declared.values()), [name for name, c in declared.items() if not c]
    assert not {"PCI-DSS-12.10.6", "PCI-DSS-12.10.7"} & {c for cs in declared.values() for c in cs}
    assert "SYSC-15A" in declared["provider-partial-outage.yaml"]
    assert declared["healthy-baseline-peak.yaml"] == ["DORA-Art25"]  # no incident, no response: a test only
