"""The provider simulator's command line (moneypath.reference.providersim.__main__): both secrets needed, every option
described, the process settles its heap."""

from __future__ import annotations

import pytest

from moneypath.reference.providersim.__main__ import main


def test_main_needs_both_secrets(monkeypatch, capsys):
    monkeypatch.delenv("MONEYPATH_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "t")
    assert main(["--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "MONEYPATH_WEBHOOK_SECRET" in err and "MONEYPATH_TOKEN_SECRET" not in err


def test_main_help_describes_every_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for option in ("--host", "--port", "--settlement-dir", "--webhook-url", "--enable-faults", "--latency-scale",
                   "--seed", "--settlement-interval", "MONEYPATH_TOKEN_SECRET"):
        assert option in out


def test_the_simulator_process_settles_its_heap_and_freezes_what_it_keeps(monkeypatch, tmp_path):
    import gc

    import uvicorn

    from moneypath.reference.providersim.__main__ import HEAP_FREEZE_INTERVAL_S, main

    monkeypatch.setenv("MONEYPATH_WEBHOOK_SECRET", "w" * 32)
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", "t" * 32)
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(app=app, options=options))
    thresholds = gc.get_threshold()
    try:
        assert main(["--port", "1", "--settlement-dir", str(tmp_path)]) == 0
        assert gc.get_threshold()[0] > thresholds[0] and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert served["app"].state.config.heap_freeze_interval_s == HEAP_FREEZE_INTERVAL_S > 0
