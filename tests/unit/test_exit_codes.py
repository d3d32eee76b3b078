"""Exit codes are defined once (moneypath._common.exit_codes): no module defines an EXIT_* constant of its own, and no
command (src/moneypath/cli, every `__main__.py` and `if __name__ == "__main__"` module) exits with a bare number
other than 0. The scanner is proved on planted sources first; the docs' table lists every code."""

from __future__ import annotations

import ast
import json
import re

import pytest

from moneypath._common.exit_codes import ExitCode
from tests.conftest import ROOT

SRC = ROOT / "src" / "moneypath"
HOME = SRC / "_common" / "exit_codes.py"
EXIT_NAME = re.compile(r"_?EXIT_[A-Z0-9_]+")
EXITING_CALLS = {"exit", "_exit", "SystemExit"}  # sys.exit, exit, os._exit, parser.exit, raise SystemExit
CODE_KEYWORDS = {"code", "exit_code", "status"}


def definitions(source: str) -> list[str]:
    """`line: NAME` for every assignment to an EXIT_* name, but a mapping onto the codes (verdict.EXIT_CODES)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and not isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in target.elts if isinstance(target, ast.Tuple | ast.List) else [target]:
                    if isinstance(name, ast.Name) and EXIT_NAME.fullmatch(name.id):
                        found.append(f"{node.lineno}: {name.id}")
    return found


def _numbers(node: ast.expr | None):
    """The non-zero int literals an exit code expression can be: itself, either branch of `a if c else b`, the first
    of a returned tuple (code, ...)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) is int and node.value != 0:
        yield node
    elif isinstance(node, ast.IfExp):
        yield from _numbers(node.body)
        yield from _numbers(node.orelse)
    elif isinstance(node, ast.Tuple) and node.elts:
        yield from _numbers(node.elts[0])


def literal_exits(source: str) -> list[str]:
    """`line: code` for every return in a function, exiting call (first argument) or code= keyword whose exit code
    is a bare number other than 0."""
    found = []
    tree = ast.parse(source)
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)]
    returns = {id(n) for f in functions for n in ast.walk(f) if isinstance(n, ast.Return)}
    for node in ast.walk(tree):
        codes: list[ast.expr | None] = []
        if isinstance(node, ast.Return) and id(node) in returns:
            codes.append(node.value)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in EXITING_CALLS and node.args:
                codes.append(node.args[0])
            codes += [k.value for k in node.keywords if k.arg in CODE_KEYWORDS]
        found += [f"{node.lineno}: {ast.unparse(node)}" for code in codes for _ in _numbers(code)]
    return found


def commands() -> list:
    """The command modules: the CLI, every __main__.py, and every module run as a script."""
    paths = set(SRC.glob("cli/**/*.py")) | set(SRC.rglob("__main__.py"))
    paths |= {p for p in SRC.rglob("*.py") if '__name__ == "__main__"' in p.read_text(encoding="utf-8")}
    return sorted(paths)


PLANTED = '''
import sys

EXIT_USAGE = 2
EXIT_OK, EXIT_STOPPED = 0, 1
EXIT_CODES = {"pass": 0}


def run(args) -> int:
    if args.a:
        return 2
    if args.b:
        return 1 if args.c else 0
    if args.d:
        return ExitCode.USAGE, False
    if args.e:
        return 3, False
    if args.f:
        raise SystemExit(130)
    if args.g:
        parser.exit(2, "bad")
    if args.h:
        return _fail("no", code=3)
    sys.exit(ExitCode.FAIL)
    return 0
'''


def test_the_scanner_finds_a_planted_definition_and_each_bare_exit():
    assert definitions(PLANTED) == ["4: EXIT_USAGE", "5: EXIT_OK", "5: EXIT_STOPPED"]
    assert sorted(literal_exits(PLANTED), key=lambda line: int(line.split(":")[0])) == [
        "11: return 2", "13: return 1 if args.c else 0", "17: return (3, False)", "19: SystemExit(130)",
        "21: parser.exit(2, 'bad')", "23: _fail('no', code=3)"]


def test_a_planted_return_2_in_a_command_fails_the_scan():
    assert literal_exits("def _run(args) -> int:\n    print('bad', file=sys.stderr)\n    return 2\n") == \
           ["3: return 2"]
    assert literal_exits("def _run(args) -> int:\n    return ExitCode.USAGE\n") == []


def test_exit_codes_are_defined_in_one_module_only():
    found = [f"{p.relative_to(ROOT)}:{line}" for p in sorted(SRC.rglob("*.py")) if p != HOME
             for line in definitions(p.read_text(encoding="utf-8"))]
    assert found == [], "define exit codes in moneypath._common.exit_codes (ExitCode) only"


def test_no_command_exits_with_a_bare_number():
    assert len(commands()) > 30  # the scan reads the CLI and the entry points
    found = [f"{p.relative_to(ROOT)}:{line}" for p in commands() for line in literal_exits(p.read_text(encoding="utf-8"))]
    assert found == [], "exit with moneypath._common.exit_codes.ExitCode, not a number"


def test_the_codes_are_the_products_contract_and_the_docs_list_each():
    assert {c.name: int(c) for c in ExitCode} == {"PASS": 0, "FAIL": 1, "USAGE": 2, "NOT_MEASURED": 3,
                                                  "INTERRUPTED": 130, "TERMINATED": 143}
    page = (ROOT / "docs" / "cli" / "index.md").read_text(encoding="utf-8")
    section = page[page.index("## Exit codes"):]
    assert [int(n) for n in re.findall(r"^\| (\d+) \|", section, flags=re.M)] == [int(c) for c in ExitCode]


@pytest.mark.parametrize("code", list(ExitCode))
def test_a_code_prints_and_serialises_as_its_number(code):
    assert (f"exit {code}", json.dumps({"exit_code": code})) == (f"exit {int(code)}", f'{{"exit_code": {int(code)}}}')
