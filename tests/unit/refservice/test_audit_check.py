"""The reference service's audit check (moneypath.reference.refservice.audit.chain_check) with signed checkpoints: it signs
its verified head, a restarted service resumes from the newest checkpoint and catches a chain cut off below it; the
checkpoint configuration."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from moneypath.catalog.conventions import Key
from moneypath.instrument import MoneyPath
from moneypath.protocol.audit.checkpoint import (
    CheckpointDir,
    CheckpointError,
    Publisher,
    Signer,
    Verifier,
    generate_key,
)
from moneypath.reference.refservice import payment_state as payments
from moneypath.reference.refservice.audit import trail as audit
from moneypath.reference.refservice.audit.chain_check import AuditCheck, Checkpointing
from moneypath.reference.refservice.db import make_engine, make_reader
from tests.conftest import ROOT
from tests.support.audit_checkpoints import other_actor, rehash_from, truncate


def service_check(path, cps, signer_text, registry=None):
    mp = MoneyPath.from_catalog(ROOT / "moneypath.yaml", registry=registry or CollectorRegistry())
    engine, reader = make_engine(f"sqlite:///{path}"), make_reader(f"sqlite:///{path}")
    return AuditCheck(engine, reader, mp, checkpoints=Checkpointing(Publisher(Signer(signer_text), CheckpointDir(cps)),
                                                                  interval_s=3600)), mp


def test_the_service_signs_its_verified_head_and_a_restart_resumes_from_the_newest_checkpoint(tmp_path):
    path, cps = tmp_path / "ledger.db", tmp_path / "cps"
    signer, public = generate_key("refservice")
    engine = make_engine(f"sqlite:///{path}")
    for i in range(3):
        with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
            payments.create(conn, payments.PaymentRow(
                principal="merchant_1", kind="payment", state="authorized", provider="acme", method="card",
                amount_minor=500, currency="JPY", reference=f"r{i}", provider_ref=f"acme_r{i}",
                provider_status="approved"))
    registry = CollectorRegistry()
    check, mp = service_check(path, cps, signer, registry)
    assert check.run_once().intact
    assert [p.name for p in cps.iterdir()] == ["00000000000000000003.note"]
    assert registry.get_sample_value(mp.catalog.metric(Key.AUDIT_CHECKPOINT_SEQ)) == 3
    assert registry.get_sample_value(mp.catalog.metric(Key.AUDIT_HEAD_SEQ)) == 3  # what AuditCheckpointStale compares
    assert check.run_once().intact and len(list(cps.iterdir())) == 1  # within the interval: none more
    assert CheckpointDir(cps).newest(Verifier(public)).seq == 3

    rehash_from(path, 1, other_actor)  # while the service is down
    restarted, _ = service_check(path, cps, signer)
    verdict = restarted.run_once()
    assert not verdict.intact and verdict.broken_seq == 3
    assert "its hash differs from the one signed in checkpoint 00000000000000000003.note" in verdict.reason
    assert len(list(cps.iterdir())) == 1  # nothing signed over a broken chain

    plain = CollectorRegistry()
    without = AuditCheck(make_engine(f"sqlite:///{path}"), make_reader(f"sqlite:///{path}"),
                         MoneyPath.from_catalog(ROOT / "moneypath.yaml", registry=plain))
    assert without.run_once().intact  # the same restart without checkpoints: nothing outside says otherwise
    # and nothing to catch up with: both gauges stay 0, so AuditCheckpointStale cannot fire for it
    assert plain.get_sample_value(without.mp.catalog.metric(Key.AUDIT_HEAD_SEQ)) == 0


def test_no_checkpoint_directory_yet_is_no_error_on_a_new_chain_and_a_warning_on_one_with_history(tmp_path, caplog):
    """A fresh stack logged ERROR "cannot read the checkpoint directory" at its first start (nothing published
    yet); a chain with events and no directory may have lost its checkpoints, which is worth a warning."""
    path, cps = tmp_path / "ledger.db", tmp_path / "cps"
    signer, _ = generate_key("refservice")
    make_engine(f"sqlite:///{path}")
    with caplog.at_level(logging.INFO, logger="moneypath.refservice.audit"):
        check, _ = service_check(path, cps, signer)
    assert [(r.levelname, "no directory" in r.getMessage()) for r in caplog.records] == [("INFO", True)]
    assert check.run_once().intact and not cps.exists()  # nothing to sign on an empty chain

    with make_engine(f"sqlite:///{path}").begin() as conn, audit.acting("merchant_1", "payments:write"):
        payments.create(conn, payments.PaymentRow(
            principal="merchant_1", kind="payment", state="authorized", provider="zenpay", method="card",
            amount_minor=700, currency="BRL", reference="b1", provider_ref="zen_b1", provider_status="approved"))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="moneypath.refservice.audit"):
        check, _ = service_check(path, cps, signer)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "the chain holds 1 events" in caplog.records[0].getMessage()
    assert check.run_once().intact and [p.name for p in cps.iterdir()] == ["00000000000000000001.note"]


def test_a_restart_catches_a_chain_cut_off_below_the_newest_checkpoint(tmp_path):
    path, cps = tmp_path / "ledger.db", tmp_path / "cps"
    signer, _ = generate_key("refservice")
    engine = make_engine(f"sqlite:///{path}")
    for i in range(2):
        with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
            payments.create(conn, payments.PaymentRow(
                principal="merchant_1", kind="payment", state="authorized", provider="acme", method="card",
                amount_minor=500, currency="KWD", reference=f"k{i}", provider_ref=f"acme_k{i}",
                provider_status="approved"))
    check, _ = service_check(path, cps, signer)
    check.final_checkpoint()  # the service's last act at shutdown
    assert [p.name for p in cps.iterdir()] == ["00000000000000000002.note"]
    truncate(path)
    verdict = service_check(path, cps, signer)[0].run_once()
    assert not verdict.intact and "signed in checkpoint 00000000000000000002.note" in verdict.reason
    assert "the head was moved back" in verdict.reason or "gone" in verdict.reason


def test_the_publisher_skips_an_unmoved_head_and_refuses_a_second_hash_for_a_signed_seq(tmp_path):
    signer, _ = generate_key("refservice")
    first = Publisher(Signer(signer), CheckpointDir(tmp_path))
    assert first.publish(5, "ab" * 32, 1_800_000_000).seq == 5
    assert first.publish(5, "ab" * 32, 1_800_000_060) is None
    other = Publisher(Signer(signer), CheckpointDir(tmp_path))  # a second service instance on the same database
    assert other.publish(5, "ab" * 32, 1_800_000_001) is None  # same head: agrees, nothing written
    with pytest.raises(CheckpointError, match="signs another hash for seq 5"):
        Publisher(Signer(signer), CheckpointDir(tmp_path)).publish(5, "cd" * 32, 1_800_000_002)
    assert [p.name for p in tmp_path.iterdir()] == ["00000000000000000005.note"]


def test_the_service_signs_the_head_as_it_leaves_it_at_shutdown(tmp_path):
    import asyncio

    from moneypath.reference.refservice.app import ServiceConfig, create_app

    signer, public = generate_key("refservice")
    (tmp_path / "refservice.key").write_text(signer)
    config = ServiceConfig(db_url=f"sqlite:///{tmp_path / 'ledger.db'}", token_secret=b"s", provider_url="http://sim",
                           audit_verify_interval_s=3600, audit_checkpoint_dir=str(tmp_path / "cps"),
                           audit_checkpoint_key=str(tmp_path / "refservice.key"))
    app = create_app(config, mp=MoneyPath.from_catalog(ROOT / "moneypath.yaml", registry=CollectorRegistry()))

    async def run():
        async with app.router.lifespan_context(app):
            for i in range(2):  # bookings after the first check: only the checkpoint at shutdown covers them
                with app.state.engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
                    payments.create(conn, payments.PaymentRow(
                        principal="merchant_1", kind="payment", state="authorized", provider="acme", method="card",
                        amount_minor=700, currency="GBP", reference=f"s{i}", provider_ref=f"acme_s{i}",
                        provider_status="approved"))

    asyncio.run(run())
    assert CheckpointDir(tmp_path / "cps").newest(Verifier(public)).seq == 2


@pytest.mark.parametrize("env, says", [
    ({"MONEYPATH_AUDIT_CHECKPOINT_DIR": "cps"}, "MONEYPATH_AUDIT_CHECKPOINT_DIR and MONEYPATH_AUDIT_CHECKPOINT_KEY go "
                                                "together"),
    ({"MONEYPATH_AUDIT_CHECKPOINT_KEY": "k.key"}, "go together"),
    ({"MONEYPATH_AUDIT_CHECKPOINT_DIR": "cps", "MONEYPATH_AUDIT_CHECKPOINT_KEY": "KEYDIR/none.key"},
     "MONEYPATH_AUDIT_CHECKPOINT_KEY: cannot read the signer key"),
    ({"MONEYPATH_AUDIT_CHECKPOINT_DIR": "cps", "MONEYPATH_AUDIT_CHECKPOINT_KEY": "KEYDIR/k.pub"},
     "MONEYPATH_AUDIT_CHECKPOINT_KEY: a signer key starts with PRIVATE+KEY+"),
    ({"MONEYPATH_AUDIT_CHECKPOINT_INTERVAL_S": "0"}, "MONEYPATH_AUDIT_CHECKPOINT_INTERVAL_S=0 must be between"),
])
def test_the_service_refuses_a_bad_checkpoint_configuration_in_one_line(tmp_path, env, says):
    from moneypath.reference.refservice.config import ServiceConfig

    signer, public = generate_key("k")
    (tmp_path / "k.key").write_text(signer)
    (tmp_path / "k.pub").write_text(public)
    env = {"MONEYPATH_TOKEN_SECRET": "s", **{k: v.replace("KEYDIR", str(tmp_path)) for k, v in env.items()}}
    with pytest.raises(SystemExit) as stopped:
        ServiceConfig.from_env(env)
    assert says in str(stopped.value) and len(str(stopped.value).splitlines()) == 1


def test_the_service_takes_a_good_checkpoint_configuration(tmp_path):
    from moneypath.reference.refservice.config import ServiceConfig

    signer, _ = generate_key("k")
    (tmp_path / "k.key").write_text(signer)
    config = ServiceConfig.from_env({"MONEYPATH_TOKEN_SECRET": "s", "MONEYPATH_AUDIT_CHECKPOINT_DIR": "cps",
                                     "MONEYPATH_AUDIT_CHECKPOINT_KEY": str(tmp_path / "k.key"),
                                     "MONEYPATH_AUDIT_CHECKPOINT_INTERVAL_S": "30"})
    assert (config.audit_checkpoint_dir, config.audit_checkpoint_interval_s) == ("cps", 30)


def test_the_first_intact_check_signs_even_on_a_machine_booted_less_than_an_interval_ago(tmp_path, monkeypatch):
    # monotonic time counts from boot: a CI machine up for 7 minutes held the first checkpoint back for the hour
    monkeypatch.setattr("moneypath.reference.refservice.audit.chain_check.time.monotonic", lambda: 5.0)
    path, cps = tmp_path / "ledger.db", tmp_path / "cps"
    signer, _ = generate_key("refservice")
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn, audit.acting("merchant_1", "payments:write"):
        payments.create(conn, payments.PaymentRow(
            principal="merchant_1", kind="payment", state="authorized", provider="acme", method="card",
            amount_minor=500, currency="JPY", reference="r0", provider_ref="acme_r0", provider_status="approved"))
    check, _ = service_check(path, cps, signer)
    assert check.run_once().intact
    assert [p.name for p in cps.iterdir()] == ["00000000000000000001.note"]
