"""The interactive tabletop with scripted answers and a scripted clock: on time, late, EOF, Ctrl-C."""

from __future__ import annotations

import pytest

from moneypath.drills.tabletop import run_tabletop

START = 1_800_000_000.0
CARDS = [
    {"role": "engineering", "checkpoint": "T+15m: say where the second charge comes from", "due_s": 900,
     "prompt": "Look at the duplicate-charge dashboard first."},
    {"role": "compliance", "checkpoint": "T+60m: classify (DORA major incident or not)", "due_s": 3600.0},
    {"role": "customer_support", "checkpoint": "T+60m: receive the remediation list", "due_s": 3600},
]


class Script:
    """ask() returns the next scripted line (or raises it, for EOFError/KeyboardInterrupt); clock() the next time."""

    def __init__(self, lines, times):
        self.lines, self.times = list(lines), list(times)
        self.prompts: list[str] = []
        self.said: list[str] = []

    def ask(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.lines:
            raise AssertionError(f"asked {prompt!r} after the script ended")
        item = self.lines.pop(0)
        if isinstance(item, BaseException) or (isinstance(item, type) and issubclass(item, BaseException)):
            raise item
        return item

    def say(self, text: str) -> None:
        self.said.append(text)

    def clock(self) -> float:
        return START + self.times.pop(0) if len(self.times) > 1 else START + self.times[0]

    def run(self, cards=CARDS):
        return run_tabletop(cards, START, ask=self.ask, say=self.say, clock=self.clock)


def test_answers_on_time_and_late_are_recorded_with_who_and_when():
    # clock: before card 1, answer 1, before card 2, answer 2 (late), before card 3, answer 3
    s = Script(["Ana", "provider settled twice; acme", "y",
                "", "Bo", "not major", "Y",
                "Cy", "list received", "maybe", "no"],
               [10, 120, 130, 3700, 3710, 3720])
    roles = s.run()
    assert [r["role"] for r in roles] == ["engineering", "compliance", "customer_support"]
    eng, comp, sup = roles
    assert eng == {"role": "engineering", "checkpoint": CARDS[0]["checkpoint"], "due_s": 900.0, "due_from": START,
                   "asked_at": START + 10, "answered_by": "Ana", "answer": "provider settled twice; acme",
                   "answered_at": START + 120, "ok": True, "late": False, "met": True}
    # an empty name is asked again; an answer after T+60m is kept, flagged late, and does not meet the checkpoint
    assert comp["answered_by"] == "Bo" and comp["answer"] == "not major" and comp["answered_at"] == START + 3700
    assert comp["late"] is True and comp["met"] is True and comp["ok"] is False
    assert any("LATE" in line for line in s.said)
    # "maybe" is not y/n: asked again; "no" means not met
    assert sup["met"] is False and sup["ok"] is False and sup["late"] is True
    assert s.prompts.count("  checkpoint met? [y/n] ") == 4
    assert any("Look at the duplicate-charge dashboard first." in line for line in s.said)
    assert any("due T+15 min 00 s" in line for line in s.said)


def test_exactly_on_the_due_time_is_on_time():
    s = Script(["Ana", "done", "y"], [0, 900])
    (eng,) = s.run(CARDS[:1])
    assert eng["late"] is False and eng["ok"] is True


def test_closed_input_records_unanswered_checkpoints_without_crashing():
    s = Script(["Ana", "acme settled twice", "y", "Bo", EOFError()], [10, 60, 70, 80])
    roles = s.run()
    assert roles[0]["ok"] is True
    assert roles[1]["answered_by"] == "Bo" and roles[1]["answer"] is None
    assert roles[1]["ok"] is False and roles[1]["note"] == "no answer: input closed"
    assert roles[2] == {"role": "customer_support", "checkpoint": CARDS[2]["checkpoint"], "due_s": 3600.0,
                        "due_from": START, "asked_at": None, "answered_by": None, "answer": None, "answered_at": None,
                        "ok": False, "note": "no answer: input closed"}
    assert len(s.prompts) == 5  # nothing asked after EOF


def test_eof_at_the_first_prompt():
    roles = Script([EOFError], [0]).run()
    assert [r["ok"] for r in roles] == [False, False, False]
    assert all(r["answer"] is None for r in roles)


def test_ctrl_c_stops_prompting_and_keeps_what_was_answered():
    s = Script(["Ana", "acme settled twice", "n", "Bo", "classifying now", KeyboardInterrupt], [10, 60, 70, 80])
    roles = s.run()
    assert roles[0]["answer"] == "acme settled twice" and roles[0]["ok"] is False and roles[0]["met"] is False
    assert roles[1]["answer"] == "classifying now" and roles[1]["answered_at"] == START + 80
    assert roles[1]["ok"] is None and "Ctrl-C" in roles[1]["note"]
    assert roles[2]["ok"] is None and roles[2]["answer"] is None and roles[2]["note"].startswith("not asked")
    assert len(s.prompts) == 6
    assert any("answers so far are kept" in line for line in s.said)


def test_empty_answer_is_not_met_and_unnamed_answerer_is_anonymous():
    s = Script(["", "", "", "", "", ""], [0, 5])
    (eng,) = s.run(CARDS[:1])
    assert eng["answered_by"] == "anonymous" and eng["answer"] is None
    assert eng["ok"] is False and eng["note"] == "no answer given"


@pytest.mark.parametrize("reply", ["", "?", "later"])
def test_no_judgement_after_three_tries_is_not_met(reply):
    s = Script(["Ana", "acme", reply, reply, reply], [0, 5])
    (eng,) = s.run(CARDS[:1])
    assert eng["met"] is None and eng["ok"] is False and "not judged" in eng["note"]


def test_interactive_tabletop_answers_go_into_roles_and_timeline(run):
    answers = iter(["Ana", "acme duplicates, 3 payments", "y"] * 4)
    run.ask = lambda _prompt: next(answers)
    roles = [{"role": r, "checkpoint": c.checkpoint, "due_s": c.due, "answered_by": None, "answer": None,
              "answered_at": None, "ok": None} for r, c in run.drill.tabletop.roles.items()]
    got = run._tabletop(roles, 1000.0)
    assert [r["role"] for r in got] == ["engineering", "operations", "compliance", "customer_support"]
    assert all(r["answered_by"] == "Ana" and r["ok"] is True for r in got)
    answers_in_timeline = [e for e in run.timeline if e.kind == "answer"]
    assert len(answers_in_timeline) == 4 and "Ana answered" in answers_in_timeline[0].text
