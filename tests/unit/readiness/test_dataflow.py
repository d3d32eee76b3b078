"""Each drill record keeps its catalog's sha256 (the copy beside the history, once per text), covered by the chain
and the signed checkpoints; the evidence pack draws the period's data-flow diagram from the recorded catalog, not
the file on disk, and says "not measured" for a record whose catalog is not recorded, missing or changed."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest

from moneypath._common.verdict import NOT_MEASURED, PASS
from moneypath.check.drill_files import alert_names, load_drill
from moneypath.protocol.audit.checkpoint import write_key_pair
from moneypath.readiness import catalogs, dataflow, evidence
from moneypath.readiness import history as h
from moneypath.readiness.checkpoints import sign_head, verify
from moneypath.readiness.records import Recorder, severities
from tests.conftest import CATALOG_PATH, ROOT, run_cli
from tests.support import map_renderer
from tests.support.drill_journal import passing_journal
from tests.support.evidence_history import record

Q1 = (date(2026, 1, 1), date(2026, 3, 31))
DRILL = ROOT / "runbooks" / "drills" / "duplicate-charge.yaml"


@pytest.fixture(autouse=True)
def renderer(monkeypatch):
    map_renderer.stand_in(monkeypatch)  # the real one runs Graphviz dot: the integration tier draws with it


def _run(tmp_path, name: str = "run") -> tuple[dict, object]:
    folder = tmp_path / "reports" / name
    folder.mkdir(parents=True)
    journal = {**passing_journal(), "time_factor": 60}
    (folder / "journal.json").write_text(json.dumps(journal))
    return journal, folder / "journal.json"


def _recorded(history_dir, day: str, catalog_text: str | None, **changes) -> dict:
    """A record of `day`, keeping `catalog_text` as its catalog (None: a record from before they kept one)."""
    fields = {**record(day, "duplicate-charge", "pass", ["PCI-DSS-12.10.2"]), **changes}
    if catalog_text is not None:
        source = history_dir.parent / f"catalog-{hashlib.sha256(catalog_text.encode()).hexdigest()[:8]}.yaml"
        source.write_text(catalog_text)
        fields[h.CATALOG_FIELD] = catalogs.keep(history_dir, source)
    return h.append(history_dir, fields)


def test_the_recorder_keeps_the_catalogs_hash_and_one_copy_per_text(tmp_path, catalog):
    drill = load_drill(DRILL, catalog, ROOT)
    recorder = Recorder(tmp_path / "history", "staging")
    said: list[str] = []
    first = recorder.record(drill, severities(alert_names(catalog)), *_run(tmp_path, "a"), said.append,
                            catalog_path=CATALOG_PATH)
    second = recorder.record(drill, {}, *_run(tmp_path, "b"), said.append, catalog_path=CATALOG_PATH)
    sha = hashlib.sha256(CATALOG_PATH.read_bytes()).hexdigest()
    assert first["catalog_sha256"] == second["catalog_sha256"] == sha
    assert [p.name for p in (tmp_path / "history" / "catalogs").iterdir()] == [f"{sha}.yaml"]
    assert (tmp_path / "history" / "catalogs" / f"{sha}.yaml").read_bytes() == CATALOG_PATH.read_bytes()
    assert h.read(tmp_path / "history") == [first, second]
    # a catalog that cannot be read: the run is recorded all the same, its catalog not recorded, and it says so
    third = recorder.record(drill, {}, *_run(tmp_path, "c"), said.append, catalog_path=tmp_path / "gone.yaml")
    assert third is not None and "catalog_sha256" not in third and "not kept" in said[-2]


def test_the_runner_hands_the_drills_catalog_to_the_recorder(tmp_path, catalog, monkeypatch):
    from moneypath.drills import runner
    from tests.support.canned_drill_run import canned_runs

    journal, _ = _run(tmp_path / "canned")
    target = canned_runs(monkeypatch, journal)
    runner.run_drills([load_drill(DRILL, catalog, ROOT)], catalog, tmp_path / "reports", target,
                      operator=runner.Operator(lambda _: None),
                      recorder=Recorder(tmp_path / "history", "ci"))
    [kept] = h.read(tmp_path / "history")
    assert kept["catalog_sha256"] == hashlib.sha256(CATALOG_PATH.read_bytes()).hexdigest()


def test_the_hash_is_covered_by_the_chain_and_the_signed_checkpoint(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    private, public, _ = write_key_pair("team-drills", keys)
    folder, checkpoints = tmp_path / "history", tmp_path / "checkpoints"
    _recorded(folder, "2026-02-01", "service: a\n")
    _recorded(folder, "2026-02-02", "service: b\n")
    sign_head(folder, checkpoints, str(private))
    assert verify(folder, checkpoints, str(public)).status == "pass"
    for seq in (1, 2):  # another catalog named: an edit the chain (seq 1) or the checkpoint (seq 2) catches
        path = folder / "records" / f"{seq:08d}.json"
        original = path.read_bytes()
        edited = {**json.loads(original), "catalog_sha256": "b" * 64}
        path.write_bytes(h.canonical(edited))
        checked = verify(folder, checkpoints, str(public))
        assert checked.status == "fail" and checked.error.problem == "edited", (seq, checked.line())
        path.write_bytes(original)
    with pytest.raises(h.HistoryError, match="catalog_sha256 must be a hex sha256"):
        h.append(folder, {**record("2026-02-03", "x", "pass", []), "catalog_sha256": "not a hash"})


def test_a_copy_that_no_longer_hashes_to_its_record_is_not_measured(tmp_path):
    folder = tmp_path / "history"
    kept = _recorded(folder, "2026-02-01", "service: a\n")
    copy = catalogs.copy_path(folder, kept["catalog_sha256"])
    assert catalogs.recorded(kept, folder).outcome is PASS
    copy.write_text("service: a\nmoney_path: {}\n")
    found = catalogs.recorded(kept, folder)
    assert found.outcome is NOT_MEASURED and found.text is None and "does not hash to the recorded" in found.why
    copy.unlink()
    assert "is missing" in catalogs.recorded(kept, folder).why
    old = h.append(folder, record("2026-02-02", "x", "pass", []))
    assert "catalog not recorded" in catalogs.recorded(old, folder).why


def _reference(**edits) -> str:
    text = CATALOG_PATH.read_text()
    for old, new in edits.items():
        text = text.replace(old, new)
    return text


def test_the_pack_draws_the_recorded_catalog_with_its_pci_scope(tmp_path):
    folder = tmp_path / "history"
    kept = _recorded(folder, "2026-02-01", _reference())
    source = next(tmp_path.glob("catalog-*.yaml"))
    source.write_text(_reference(**{"label: payments API": "label: renamed on disk later"}))  # the file moves on
    pack = evidence.build(folder, *Q1, tmp_path / "pack")
    out = tmp_path / "pack"
    flow = pack.dataflow
    assert flow.check.outcome is PASS and flow.drawn.sha256 == kept["catalog_sha256"]
    svg = (out / "dataflow.svg").read_text()
    assert 'data-node="payments/payments"' in svg and "payments API" in svg and "renamed on disk" not in svg
    assert (out / "catalogs" / f"{kept['catalog_sha256']}.yaml").read_bytes() == _reference().encode()
    page = (out / "index.html").read_text()
    assert 'id="data-flow"' in page and svg in page
    pci = {r["node"]: r for r in json.loads((out / "dataflow.json").read_text())["pci_scope"]}
    assert set(pci) == {"payments/payments", "payments/acme", "payments/globex"}
    assert pci["payments/payments"]["process"] and pci["payments/payments"]["transmit"]
    assert not pci["payments/payments"]["store"] and pci["payments/acme"]["store"]
    assert '<tr data-node="payments/acme">' in page
    assert "sha256sum -c" in (out / "VERIFY.txt").read_text().split("3. Each catalog")[1]
    assert evidence.verify(out).code == 3  # intact, unsigned


def test_several_catalogs_in_the_period_draw_the_newest_and_list_the_others(tmp_path):
    folder = tmp_path / "history"
    older = _recorded(folder, "2026-01-10", _reference())
    newer = _recorded(folder, "2026-02-10", _reference(**{"label: payments API": "label: payments API v2"}))
    flow = evidence.build(folder, *Q1, tmp_path / "pack").dataflow
    assert flow.drawn.sha256 == newer["catalog_sha256"] and flow.drawn_seqs == [2]
    assert flow.others == {older["catalog_sha256"]: [1]}
    assert "payments API v2" in flow.svg
    page = (tmp_path / "pack" / "index.html").read_text()
    assert f'href="catalogs/{older["catalog_sha256"]}.yaml"' in page
    assert sorted(p.name for p in (tmp_path / "pack" / "catalogs").iterdir()) == sorted(
        f"{r['catalog_sha256']}.yaml" for r in (older, newer))


def test_the_newest_records_catalog_unusable_is_not_measured_and_never_silently_replaced(tmp_path):
    folder = tmp_path / "history"
    older = _recorded(folder, "2026-01-10", _reference())
    newer = _recorded(folder, "2026-02-10", _reference(**{"label: payments API": "label: v2"}))
    catalogs.copy_path(folder, newer["catalog_sha256"]).write_text("tampered\n")
    pack = evidence.build(folder, *Q1, tmp_path / "pack")
    flow = pack.dataflow
    assert flow.check.outcome is NOT_MEASURED
    assert "does not hash" in flow.check.why and "record 1's catalog, which may not be current" in flow.check.why
    assert flow.drawn.sha256 == older["catalog_sha256"]
    page = (tmp_path / "pack" / "index.html").read_text()
    assert "not measured" in page and "never drawn in its place" in page
    assert not (tmp_path / "pack" / "catalogs" / f"{newer['catalog_sha256']}.yaml").exists()
    assert pack.exit_code == pack.verdict.exit_code  # the controls' verdict, as before


def test_records_without_a_catalog_draw_nothing_and_say_not_recorded(tmp_path):
    folder = tmp_path / "history"
    h.append(folder, record("2026-02-01", "duplicate-charge", "pass", ["PCI-DSS-12.10.2"]))
    pack = evidence.build(folder, *Q1, tmp_path / "pack")
    assert pack.dataflow.check.outcome is NOT_MEASURED and "catalog not recorded" in pack.dataflow.check.why
    assert not (tmp_path / "pack" / "dataflow.svg").exists() and not (tmp_path / "pack" / "catalogs").exists()
    assert "3. Each catalog" not in (tmp_path / "pack" / "VERIFY.txt").read_text()
    summary = json.loads((tmp_path / "pack" / "dataflow.json").read_text())
    assert summary["result"] == "not measured" and summary["drawn"] is None
    r = run_cli("evidence", "--from", "2026-01-01", "--to", "2026-03-31", "--out", str(tmp_path / "p2"),
                "--history", str(folder))
    assert "  data-flow        NOT DRAWN  not measured: the newest record of the period: record 1: catalog not " \
        "recorded" in r.stdout


def test_a_recorded_catalog_without_a_money_path_is_not_measured(tmp_path):
    text = CATALOG_PATH.read_text()
    folder = tmp_path / "history"
    _recorded(folder, "2026-02-01", text[:text.index("\nmoney_path:")] + "\n")
    flow = dataflow.build(h.read(folder), folder)
    assert flow.check.outcome is NOT_MEASURED and "declares no money path" in flow.check.why and flow.svg is None


def test_no_layout_engine_leaves_the_diagram_not_measured_and_the_scope_listed(tmp_path, monkeypatch):
    from moneypath.map.layout import INSTALL_HINT, LayoutError

    def missing(*args, **kwargs):
        raise LayoutError(INSTALL_HINT)

    monkeypatch.setattr("moneypath.map.render.render_svg", missing)
    folder = tmp_path / "history"
    _recorded(folder, "2026-02-01", _reference())
    pack = evidence.build(folder, *Q1, tmp_path / "pack")
    assert pack.dataflow.check.outcome is NOT_MEASURED and "could not be drawn" in pack.dataflow.check.why
    assert not (tmp_path / "pack" / "dataflow.svg").exists() and pack.dataflow.pci_rows()
    assert "Not drawn: the diagram could not be drawn" in (tmp_path / "pack" / "index.html").read_text()
