"""The code examples of the README and the docs site (docs/**/*.md), and what proves each one.

A shell or Python example is true only if something runs it. The line just above its fence says what:

- `<!-- example: run -->`: tests/unit/test_docs.py runs its `moneypath` commands in process (a `console`
  example's `$` lines, whose shown output must appear in what the command prints);
- `<!-- example: tests/<path>.py::<test> -->`: that test runs it (it starts a whole stack, a service or
  Locust), reading the example from the page with `code_block` and changing only what must differ there (a
  port, a temporary path, a placeholder), in plain sight: `fill`, `substitute`, `required`;
- `<!-- example: Makefile -->`: `make` targets, and tools the Makefile's recipes run;
- YAML: `<!-- example: drill file -->`, `drill keys`, `request template`, `catalog keys` (`… over <file>`):
  tests/unit/test_docs_models.py checks it with the command that reads it, and that these examples together
  write every key of the drill file, request template and catalog models.

tests/unit/test_docs.py holds every page to this, and checks that the file of every test a page names calls
`code_block` for that very example (so no test runs its own copy of a command).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_LANGS = {"sh", "shell", "bash", "console", "python"}
MARKER = re.compile(r"^<!-- example: (.+?) -->$")
FENCE = re.compile(r"^```(\w*)\s*$")
HEADING = re.compile(r"^(#{1,6}) (.+)$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    heading: str  # the nearest heading above it, without its #s
    proof: str | None  # the marker above the fence

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(page: Path) -> list[Block]:
    """Every fenced block of a page, with the heading it sits under and the marker above it."""
    found, lines = [], page.read_text().splitlines()
    heading, i = "", 0
    while i < len(lines):
        line = lines[i]
        if (h := HEADING.match(line)) is not None:
            heading = h.group(2).strip()
        fence = FENCE.match(line)
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        above = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(above)
        found.append(Block(page, i + 1, fence.group(1), "\n".join(lines[i + 1:end]) + "\n", heading,
                           marker.group(1) if marker else None))
        i = end + 1
    return found


def find_block(page: str, heading: str, lang: str = "python", nth: int = 0) -> Block:
    """The `nth` (from 0) `lang` block under `heading` (its text without #s) in `page` (a path from the root)."""
    found = [b for b in blocks(ROOT / page) if b.heading == heading and b.lang == lang]
    if len(found) <= nth:
        raise AssertionError(f"{page} has no ```{lang} example #{nth} under the heading {heading!r}")
    return found[nth]


def code_block(page: str, heading: str, lang: str = "python", nth: int = 0) -> str:
    """The text of the `nth` (from 0) `lang` example under `heading` in `page` (a path from the repository root).
    tests/unit/test_docs.py checks that every test a page names calls this for its example."""
    return find_block(page, heading, lang, nth).text


def shell(text: str) -> list[list[str]]:
    """The command lines of a shell example, each split as the shell would (continuations joined, comments
    dropped, nothing expanded); a `console` example's `$` lines only."""
    text = text.replace("\\\n", " ")
    lines = text.splitlines()
    if any(line.startswith("$ ") for line in lines):
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    return [argv for line in lines if (argv := shlex.split(line, comments=True))]


def sessions(text: str) -> list[tuple[list[str], list[str]]]:
    """Each command of a `console` example (its `$` lines, continuations joined) with the output lines it shows
    (an ellipsis line dropped); of any other shell example, each command with none."""
    lines = text.replace("\\\n", " ").splitlines()
    if not any(line.startswith("$ ") for line in lines):
        return [(argv, []) for argv in shell(text)]
    out: list[tuple[list[str], list[str]]] = []
    for line in lines:
        if line.startswith("$ "):
            out.append((shlex.split(line[2:], comments=True), []))
        elif line.strip() and line.strip() not in ("…", "..."):
            out[-1][1].append(line)
    return out


def script_lines(text: str) -> list[str]:
    """The command lines of a shell example as written (a line ending in a backslash continues on the next),
    comment-only lines dropped: what a test hands to bash, one or a few at a time."""
    out: list[str] = []
    for line in text.splitlines():
        if out and out[-1].endswith("\\"):
            out[-1] += "\n" + line
        elif line.strip() and not line.lstrip().startswith("#"):
            out.append(line)
    return out


def substitute(argv: list[str], values: dict[str, str]) -> list[str]:
    """A command line with some of its words (a placeholder, a URL the test cannot use) replaced; every word
    named must be there."""
    for word in values:
        assert word in argv, f"{word!r} is not in {shlex.join(argv)}"
    return [values.get(arg, arg) for arg in argv]


def command(text: str, *words: str) -> list[str]:
    """The one command line of a shell example that starts with `words` after its program (`moneypath`,
    `.venv/bin/moneypath`, ...) and its VAR=value prefixes, e.g. command(text, "drill", "check")."""
    found = [argv for argv in shell(text) if args_of(argv)[:len(words)] == list(words)]
    assert len(found) == 1, f"{len(found)} command lines start with {' '.join(words)!r} in:\n{text}"
    return found[0]


def _env(argv: list[str]) -> list[str]:
    return argv[:next(i for i, a in enumerate(argv) if not re.match(r"^[A-Z_]+=", a))]


def env_of(argv: list[str]) -> dict[str, str]:
    """The VAR=value prefixes of a command line."""
    return dict(a.split("=", 1) for a in _env(argv))


def args_of(argv: list[str]) -> list[str]:
    """A command line without its VAR=value prefixes and its program: what `moneypath(...)` takes."""
    return argv[len(_env(argv)) + 1:]


def required(argv: list[str], *keep: str) -> list[str]:
    """A usage line without its [optional] parts, but those that start with an option of `keep` (unbracketed)."""
    out: list[str] = []
    group: list[str] | None = None
    for arg in argv:
        if group is None and arg.startswith("["):
            group, arg = [], arg[1:]
        if group is None:
            out.append(arg)
            continue
        closes = arg.endswith("]")
        group.append(arg[:-1] if closes else arg)
        if closes:
            if group and group[0] in keep:
                out += group
            group = None
    assert group is None, f"an unclosed [ in {argv}"
    return out


def fill(argv: list[str], **values: str) -> list[str]:
    """A command line with the values of some of its options replaced (`fill(argv, port="0")` sets --port's):
    what a test must change (a port, a temporary path) and nothing else. Every option named must be there."""
    out = list(argv)
    for name, value in values.items():
        option = "--" + name.replace("_", "-")
        assert option in out, f"{option} is not in {shlex.join(argv)}"
        out[out.index(option) + 1] = value
    return out
