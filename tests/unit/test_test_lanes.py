"""The integration tier's lanes (tests/conftest.py): every `exclusive` test in one work unit, so no worker waits on the
exclusive lock while it holds other work."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import INTEGRATION_DIR, ROOT, marked_exclusive, pytest_xdist_make_scheduler

A_FILE = '''
import pytest


@pytest.mark.exclusive  # a saturation probe: never beside a drill
def test_capacity(tmp_path):
    pass


@pytest.mark.exclusive
@pytest.mark.parametrize("n", [1, 2])
async def test_capacity_async(n):
    pass


@pytest.mark.exclusive_not_quite
def test_other_mark():
    pass


def test_plain():
    pass
'''


def test_the_tests_marked_exclusive_in_their_source_are_found_by_node_id(tmp_path):
    (tmp_path / "loadtest").mkdir()
    (tmp_path / "loadtest" / "test_runs.py").write_text(A_FILE)
    (tmp_path / "loadtest" / "helpers.py").write_text(A_FILE)  # not a test file
    (tmp_path / "loadtest" / "test_broken.py").write_text("def test_x(:\n")  # left to pytest's collection error
    (tmp_path / "loadtest" / "test_whole.py").write_text(
        "import pytest\npytestmark = [pytest.mark.integration, pytest.mark.exclusive]\n\n"
        "def helper():\n    pass\n\ndef test_one():\n    pass\n")
    assert marked_exclusive(tmp_path, root=tmp_path) == {"loadtest/test_runs.py::test_capacity",
                                                         "loadtest/test_runs.py::test_capacity_async",
                                                         "loadtest/test_whole.py::test_one"}


def test_the_shipped_capacity_runs_are_marked_exclusive():
    found = marked_exclusive()
    assert "tests/integration/loadtest/capacity/test_plan_session.py::test_capacity_on_a_stack_it_starts_itself" in found
    assert all((ROOT / nodeid.split("::")[0]).is_file() for nodeid in found)


def test_every_exclusive_test_is_in_one_lane_the_rest_by_file():
    pytest.importorskip("xdist")
    config = SimpleNamespace(getoption=lambda name: "loadfile", getvalue=lambda name: ["2*popen"])
    lanes = pytest_xdist_make_scheduler(config, None)._split_scope
    marked = sorted(marked_exclusive())[0]
    drill = f"{(INTEGRATION_DIR / 'e2e').relative_to(ROOT).as_posix()}/test_x.py::test_y"
    assert lanes(marked) == lanes(f"{marked}[postgres]") == lanes(drill) == "exclusive"
    its_file = marked.split("::")[0]
    assert lanes(f"{its_file}::test_something_else") == its_file
