"""The audit check's walk (moneypath.protocol.audit.chain.ChainWatch) in a child process of its own, so hashing
the chain never competes with request handling for the interpreter's lock.

Why a child process: docs/decisions/0009-audit-walk-in-its-own-process.md

The child holds the ChainWatch (its tip, its sweep's place, a break it is waiting to see mended) and its own
read-only engine on the service's database. The service keeps the tip of the last check: it signs checkpoints
with it, and a child that dies is replaced at the next check by one resumed at that tip (its sweep starts over,
which costs nothing but time). The child exits when its input closes, so it never outlives the service, however
the service ends, and only then: it ignores SIGTERM and SIGINT, which `moneypath down` and a Ctrl-C send to the
service's whole process group, because the service's last act at shutdown is a check (and a checkpoint signed over
it) that needs the child still there.

The service starts the child before it takes its first request, so its interpreter and imports do not land
beside the first requests.

The protocol is a JSON object a line: `{"ready": true}` answers `{"ok": true}` once the child is loaded,
`{"resume": [seq, hash, known_from]}` answers `{"ok": true}`, and `{"check": true}` answers
`{"verdict": {...}, "tip": [seq, hash] | null}`, or `{"error": "..."}` when the database could not be read (the
child stays; the next check tries again).

    python -m moneypath.reference.refservice.audit.walker --db URL [--sweep-min N] [--batch N]
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
from dataclasses import asdict

from moneypath.protocol.audit.chain import ChainVerdict, ChainWatch

log = logging.getLogger("moneypath.refservice.audit")
STOP_TIMEOUT_S = 5.0
MODULE = "moneypath.reference.refservice.audit.walker"  # what `python -m` runs (as __main__ there)


class WalkerError(RuntimeError):
    """A check the child could not answer (the database unreadable, or the child gone): the next one retries."""


class WalkerProcess:
    """The parent's side: `check()`, `resume()` and `tip` as a ChainWatch has them, the walk in the child."""

    def __init__(self, db_url: str, sweep_min: int = 1000, batch: int = 5000):
        self.argv = [sys.executable, "-m", MODULE, "--db", db_url, "--sweep-min", str(sweep_min),
                     "--batch", str(batch)]
        self.tip: tuple[int, str] | None = None  # (seq, hash) the last check ended on
        self.tip_from = "verified earlier"
        self._proc: subprocess.Popen | None = None

    def resume(self, seq: int, hash_: str, known_from: str) -> None:
        """Start at (seq, hash) known from outside the database (a signed checkpoint)."""
        self.tip, self.tip_from = (seq, hash_), known_from
        if self._proc is not None:
            self._ask({"resume": [seq, hash_, known_from]})

    def start(self) -> None:
        """Start the child if none runs; returns once it answers (its imports done)."""
        if self._proc is None:
            self._start()

    def check(self) -> ChainVerdict:
        self.start()
        answer = self._ask({"check": True})
        if "error" in answer:
            raise WalkerError(answer["error"])
        tip = answer["tip"]
        if tip is not None:
            self.tip, self.tip_from = (int(tip[0]), str(tip[1])), "verified earlier"
        return ChainVerdict(**answer["verdict"])

    def close(self) -> None:
        """Close the child's input (it exits) and wait for it; kill it if it does not."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
        if proc.stdout is not None:
            proc.stdout.close()

    def _start(self) -> None:
        # stderr is the service's: the child's own errors land in the service's log
        self._proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        if self.tip is not None:  # a replacement: go on from the last tip, never from the database's head
            self._ask({"resume": [self.tip[0], self.tip[1], self.tip_from]})
        else:
            self._ask({"ready": True})

    def _ask(self, request: dict) -> dict:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except (OSError, ValueError):  # a broken pipe, or a pipe closed by close() meanwhile
            line = ""
        if not line:
            code = proc.poll()
            self.close()
            how = f"code {code}" if code is not None else "its output closed"
            raise WalkerError(f"the audit walker process exited ({how}); a new one starts at the next check")
        return json.loads(line)


def serve(watch: ChainWatch, reader, lines, out) -> None:
    """The child's loop: a request a line from `lines`, an answer a line to `out`, until `lines` ends."""
    for line in lines:
        request = json.loads(line)
        if "resume" in request:
            seq, hash_, known_from = request["resume"]
            watch.resume(int(seq), str(hash_), str(known_from))
            answer: dict = {"ok": True}
        elif "ready" in request:
            answer = {"ok": True}  # answered once the child has imported what it walks with
        else:
            try:
                with reader.connect() as conn:
                    verdict = watch.check(conn)
                answer = {"verdict": asdict(verdict), "tip": list(watch.tip) if watch.tip is not None else None}
            except Exception as exc:  # noqa: BLE001 - answered: the service logs it and checks again later
                answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="The reference service's audit chain check in a process of its own (the service starts it; "
                    "requests on standard input, a JSON object a line).")
    parser.add_argument("--db", required=True, help="the ledger's database URL (read only)")
    parser.add_argument("--sweep-min", type=int, default=1000, help="older events re-verified a check, at least")
    parser.add_argument("--batch", type=int, default=5000, help="events a page")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the service ends it by closing its input (above)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from moneypath.reference.refservice.db import make_reader

    reader = make_reader(args.db)
    try:
        serve(ChainWatch(args.sweep_min, batch=args.batch), reader, sys.stdin, sys.stdout)
    except BrokenPipeError:  # the service went while a check was under way
        pass
    finally:
        reader.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
