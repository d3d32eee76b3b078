"""The local stack's audit checkpoint settings for the reference service: a key made once in the state directory
(mode 0600, beside the ledger file, never in it) and kept on the next `up`, so what was signed stays verifiable."""

from __future__ import annotations

import stat

import pytest

from moneypath.protocol.audit.checkpoint import Signer, Verifier, read_key
from moneypath.stack import service_files, status
from moneypath.stack.state import StackError, StackState


def test_the_key_is_made_once_readable_by_the_owner_only_and_kept(tmp_path, catalog):
    env = service_files.audit_checkpoint_env(catalog, tmp_path, fast=True)
    key = tmp_path / "audit-checkpoint.key"
    assert env == {"MONEYPATH_AUDIT_CHECKPOINT_DIR": str(tmp_path / "audit-checkpoints"),
                   "MONEYPATH_AUDIT_CHECKPOINT_KEY": str(key), "MONEYPATH_AUDIT_CHECKPOINT_INTERVAL_S": "2"}
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    signer = Signer(read_key(str(key), "signer key"))
    Verifier(read_key(str(tmp_path / "audit-checkpoint.pub"), "verifier key"))  # the pair `audit verify --key` takes
    before = key.read_text()
    again = service_files.audit_checkpoint_env(catalog, tmp_path, fast=False)
    assert key.read_text() == before and signer.name == "audit-checkpoint"
    assert again["MONEYPATH_AUDIT_CHECKPOINT_INTERVAL_S"] == "60"  # production's default off the fast stack


def test_a_state_dir_that_cannot_hold_the_key_stops_up_with_one_line(tmp_path, catalog):
    (tmp_path / "audit-checkpoint.pub").write_text("someone else's\n")  # half a pair: never replaced
    with pytest.raises(StackError, match=r"^audit checkpoint key: .*audit-checkpoint.pub exists; refusing to "
                                               r"replace a key$"):
        service_files.audit_checkpoint_env(catalog, tmp_path, fast=True)


def test_the_verify_command_names_the_ledger_the_stack_keeps_and_hides_a_given_url(tmp_path):
    state = StackState(str(tmp_path), "1s", "1s", [], audit_checkpoints=str(tmp_path / "cps"),
                             audit_key=str(tmp_path / "k.pub"), ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}")
    assert state.audit_verify_command() == (f"moneypath audit verify --db sqlite:///{tmp_path / 'ledger.db'} "
                                            f"--checkpoints {tmp_path / 'cps'} --key {tmp_path / 'k.pub'}")
    state.ledger_url = ""  # up(db_url=...): a URL may carry a password, so stack.json does not keep it
    assert state.audit_verify_command().startswith("moneypath audit verify --db URL --checkpoints ")


def test_status_names_the_directory_and_the_newest_seq_signed(tmp_path):
    cps = tmp_path / "audit-checkpoints"
    assert status._checkpoints_summary(cps) == f", audit checkpoints: none yet in {cps}"
    cps.mkdir()
    for seq in (7, 120):
        (cps / f"{seq:020d}.note").write_text("signed note\n")
    (cps / ".00000000000000000130.1.ab.tmp").write_text("being written\n")  # not a checkpoint yet
    assert status._checkpoints_summary(cps) == f", audit checkpoints: 2 in {cps} (newest seq 120)"
