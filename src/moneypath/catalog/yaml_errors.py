"""Where a YAML syntax error is, for a one-line message: PyYAML's problem mark is where the parser noticed,
which for some mistakes is the line after them (a key without its colon is only found out on the next line;
an unclosed quote or bracket at the end of the file). For those the context mark is the mistake's line."""

from __future__ import annotations

FILE = "(file)"  # the name slot of a problem about a whole file, not one key of it

# the errors whose context mark, not their problem mark, is the line to fix
_AT_CONTEXT = ("while scanning a simple key", "while scanning a quoted scalar", "while parsing a flow")


def error_line(exc: Exception) -> int | None:
    """The 1-based line of the mistake behind a yaml.YAMLError, or None when it has no position."""
    context = getattr(exc, "context", None) or ""
    mark = getattr(exc, "context_mark", None) if context.startswith(_AT_CONTEXT) else None
    mark = mark or getattr(exc, "problem_mark", None)
    return None if mark is None else mark.line + 1


def error_text(exc: Exception) -> str:
    """What is wrong, in one line: "could not find expected ':'"."""
    return " ".join(str(getattr(exc, "problem", None) or exc).split())
