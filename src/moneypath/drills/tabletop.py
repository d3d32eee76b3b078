"""The tabletop part of a drill (`moneypath drill run --interactive`): people answer each role's first-hour checkpoint.

For every role card the facilitator is asked who is answering, the answer, and whether the
checkpoint is met; the answer's time is recorded, and an answer given after the card's due time
(counted from when the clocks start, see run_tabletop) is kept but flagged late and does not meet
the checkpoint. The result is the journal's "roles" list.

The runner prompts at the end of the drill (DrillRun.finish(), after mitigation and recovery, with
the fault already cleared); due times count from the classification (the first expected page),
else from the fault injection, else from the drill start. Input and clock are injected
(ask/say/clock) so the prompts are testable. Closed input (EOF, e.g. no terminal) records the
remaining checkpoints as unanswered instead of failing; Ctrl-C stops the prompting and keeps what
was answered, so the drill still writes its journal and report.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from moneypath.drills.report.formatting import fmt_duration

RETRIES = 3
YES = {"y", "yes"}
NO = {"n", "no"}


def _num(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _clock_text(seconds: float) -> str:
    return f"T+{fmt_duration(max(seconds, 0.0))}"


def _ask_text(ask: Callable[[str], str], prompt: str) -> str:
    """A non-empty line, asked up to RETRIES times; "" when it stays empty. EOFError/KeyboardInterrupt pass through."""
    for _ in range(RETRIES):
        line = ask(prompt)
        if line is None:
            raise EOFError
        if line.strip():
            return line.strip()
    return ""


def _ask_yes_no(ask: Callable[[str], str], say: Callable[[str], None], prompt: str) -> bool | None:
    for _ in range(RETRIES):
        line = ask(prompt)
        if line is None:
            raise EOFError
        word = line.strip().lower()
        if word in YES:
            return True
        if word in NO:
            return False
        say("  please answer y or n")
    return None


def run_tabletop(roles: list[dict], started_at: float, ask: Callable[[str], str] = input,
                 say: Callable[[str], None] = print, clock: Callable[[], float] = time.time,
                 narrative: str | None = None) -> list[dict]:
    """Prompt every role card ({"role", "checkpoint", "due_s", optional "prompt"}); return the journal's roles.

    started_at is when the checkpoints' clocks start (the drill start, or the classification when
    the cards count from it); it is recorded in every entry as due_from.

    Each entry: role, checkpoint, due_s, due_from, asked_at (None: not asked), answered_by, answer, answered_at,
    ok, plus late, met and, when something kept it from being a plain answer, note. ok is True only for an answer given in
    time and judged met; False when asked but not met, late, unanswered or input closed; None for
    cards not reached because the tabletop was stopped (Ctrl-C).
    """
    entries: list[dict] = []
    closed = stopped = False
    if narrative:
        say(f"\n{narrative.strip()}\n")
    say(f"Tabletop: {len(roles)} role checkpoint(s). Ctrl-C stops the questions; the drill goes on.")
    for i, card in enumerate(roles, start=1):
        due_s = _num(card.get("due_s"))
        entry = {"role": str(card.get("role") or "?"), "checkpoint": str(card.get("checkpoint") or ""),
                 "due_s": due_s, "due_from": started_at, "asked_at": None, "answered_by": None, "answer": None,
                 "answered_at": None, "ok": None}
        entries.append(entry)
        if closed:
            entry.update(ok=False, note="no answer: input closed")
            continue
        if stopped:
            entry["note"] = "not asked: tabletop stopped (Ctrl-C)"
            continue
        try:
            entry["asked_at"] = clock()
            elapsed = entry["asked_at"] - started_at
            due = f", due {_clock_text(due_s)}" if due_s is not None else ""
            say(f"\n[{i}/{len(roles)}] {entry['role']} ({_clock_text(elapsed)} into the drill{due})")
            say(f"  checkpoint: {entry['checkpoint']}")
            if card.get("prompt"):
                say(f"  {str(card['prompt']).strip()}")
            entry["answered_by"] = _ask_text(ask, "  who is answering? ") or "anonymous"
            answer = _ask_text(ask, "  answer: ")
            entry["answered_at"] = clock()
            if not answer:
                entry.update(ok=False, note="no answer given")
                continue
            entry["answer"] = answer
            late = due_s is not None and entry["answered_at"] - started_at > due_s
            entry["late"] = late
            met = _ask_yes_no(ask, say, "  checkpoint met? [y/n] ")
            entry["met"] = met
            entry["ok"] = bool(met) and not late
            if met is None:
                entry["note"] = "checkpoint not judged (no y/n)"
            if late:
                say(f"  recorded, LATE: answered at {_clock_text(entry['answered_at'] - started_at)}, "
                    f"due {_clock_text(due_s)}")
        except (EOFError, KeyboardInterrupt) as exc:
            # EOF: nobody can answer any more (unanswered = not met); Ctrl-C: the facilitator stopped (not judged)
            closed, stopped = closed or isinstance(exc, EOFError), stopped or isinstance(exc, KeyboardInterrupt)
            why = "input closed" if closed else "tabletop stopped (Ctrl-C)"
            entry["ok"] = False if closed else None
            entry["note"] = f"{why} before the checkpoint was judged" if entry["answer"] else \
                ("no answer: " if closed else "not asked: ") + why
            say(f"\n  {why}: " + ("the remaining checkpoints are recorded as unanswered" if closed
                                  else "answers so far are kept"))
    return entries
