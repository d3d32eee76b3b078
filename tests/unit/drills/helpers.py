"""What the drill unit tests build their inputs from."""

from __future__ import annotations

from tests.conftest import ROOT


def run_args(tmp_path, *extra):
    from moneypath.cli import build_parser

    return build_parser().parse_args(["drill", "run", str(ROOT / "runbooks" / "drills" / "duplicate-charge.yaml"),
                                      "--catalog", str(ROOT / "moneypath.yaml"), "--reports", str(tmp_path),
                                      *extra])

