"""The liar's matrix drills (tests/integration/liars): a shipped drill made short, run on a local stack by
`moneypath drill run` as a user runs it, and its journal."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from moneypath.check.drill_files import load_drill
from moneypath.cli import main
from moneypath.drills.runner import local_stack
from moneypath.stack import local as stack
from tests.conftest import ROOT


@contextmanager
def drill_stack(catalog, source: Path, state: Path, monkeypatch) -> Iterator:
    """A fresh local stack for the drill file `source` (its Target), its token secret in the environment as a user
    exports it, stopped afterwards."""
    state = state.resolve()
    started = local_stack(catalog, load_drill(source, catalog, ROOT), state, say=lambda _: None)
    monkeypatch.setenv("MONEYPATH_TOKEN_SECRET", stack.read_secrets(state)["token_secret"])
    try:
        yield started
    finally:
        stack.down(state, progress=lambda *_: None)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drill_run(drill: Path, target, reports: Path, *extra: str, pager: str | None = None) -> tuple[int, dict]:
    """`moneypath drill run` of `drill` against `target` (a local stack's Target): exit code and journal."""
    code = main(["drill", "run", str(drill), "--catalog", str(drill.parents[2] / "moneypath.yaml"),
                 "--target-service", target.service, "--target-prometheus", target.prometheus,
                 "--target-providersim", target.providersim, "--target-pager", pager or target.pager,
                 "--target-alertmanager", target.alertmanager, "--db-url", target.db_url,
                 "--time-factor", "60", "--reports", str(reports), "--no-history", *extra])
    (journal,) = [json.loads(p.read_text()) for p in reports.glob("*/journal.json")]
    return code, journal


def objectives(journal: dict) -> dict[str, dict]:
    return {o["name"]: o for o in journal["objectives"]}
