"""moneypath._common.yamlio: the C parser's documents and marks equal the pure-Python parser's, and a syntax
error still carries the pure-Python parser's clearer message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from moneypath._common import yamlio

ROOT = Path(__file__).resolve().parents[3]


def _marks(node) -> list[tuple[int, int]]:
    children = node.value if isinstance(node.value, list) else []
    flat = [c for pair in children for c in (pair if isinstance(pair, tuple) else (pair,))]
    return [(node.start_mark.line, node.start_mark.column)] + [m for c in flat for m in _marks(c)]


def test_the_fast_parser_is_libyamls():
    assert yamlio._FAST is yaml.CSafeLoader  # the wheels carry libyaml; without it every read is 10x slower


@pytest.mark.parametrize("path", ["moneypath.yaml", "loadtests/scenarios.yaml"])
def test_documents_and_marks_equal_the_pure_python_parsers(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    assert yamlio.load(text) == yaml.safe_load(text)
    assert _marks(yamlio.compose(text)) == _marks(yaml.compose(text, Loader=yaml.SafeLoader))
    assert yamlio.load_all(text + "\n---\nb: 2\n") == [yaml.safe_load(text), {"b": 2}]


def test_a_syntax_error_has_the_pure_python_parsers_message():
    with pytest.raises(yaml.YAMLError) as caught:
        yamlio.load("a: [1, 2\nb: c: d\n")
    assert "expected ',' or ']', but got ':'" in str(caught.value)
    assert caught.value.problem_mark.line == 1


def test_a_python_tag_is_refused_as_by_safe_load():
    with pytest.raises(yaml.YAMLError, match="python/object"):
        yamlio.load("!!python/object/apply:os.system ['true']")
