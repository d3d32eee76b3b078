from __future__ import annotations

import ast
import fcntl
import os
import random
import subprocess
from pathlib import Path

import pytest
from benchmarks.processes import free_port, http_ok, stop_process, wait_for  # noqa: F401 - the tests import them from here
from prometheus_client import CollectorRegistry

from moneypath.catalog import load_catalog
from moneypath.instrument import MoneyPath
from moneypath.instrument._prometheus_backend import PrometheusBackend

ROOT = Path(__file__).resolve().parent.parent
CATALOG_PATH = ROOT / "moneypath.yaml"
# the reference service's locustfile and scenarios: the project's loadtests/, as `moneypath init` lays it out
SHIPPED_LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"
SHIPPED_SCENARIOS = ROOT / "loadtests" / "scenarios.yaml"
INTEGRATION_DIR = Path(__file__).resolve().parent / "integration"
UNIT_DIR = Path(__file__).resolve().parent / "unit"
SECOND_TIER = ("integration", "timing")
PROCESS_FIXTURES = {"pg_server", "pg_url"}  # a real PostgreSQL server
# Whole drills on a stack, judged by the clock: one at a time when the tier runs on several workers.
EXCLUSIVE_DIRS = (INTEGRATION_DIR / "e2e", INTEGRATION_DIR / "drills")


def _spread_port_turns() -> None:
    """Each pytest-xdist worker starts free_port's turn in its own share of the range. Two random starts that lie
    close go round in step and clash: in CI (2026-11-26) gw1's stacks took 22545 and 22558 just as gw0's chose
    them, and gw0's pager and service found them in use. A worker uses a few hundred ports a run, far less than
    its share."""
    from moneypath.stack import processes

    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if worker.startswith("gw") and worker[2:].isdigit() and count.isdigit() and int(count) > int(worker[2:]):
        share = (processes._ephemeral_low() - processes.PORTS_FROM) // int(count)
        # a random place in the first half of the share: another session on the machine rarely starts beside it
        processes._next = processes.PORTS_FROM + int(worker[2:]) * share + random.randrange(share // 2)
        processes._turn_pid = os.getpid()


def _history_out_of_the_team_record() -> None:
    """Every `moneypath drill run` records into the drill history beside the catalog: the suite's runs (this
    repository's catalog, the foreign shops' ops/) go to a throwaway one instead, inherited by the processes it
    starts. A test that strips MONEYPATH_* from a child's environment passes --history itself."""
    import atexit
    import shutil
    import tempfile

    if "MONEYPATH_HISTORY" not in os.environ:
        folder = tempfile.mkdtemp(prefix="moneypath-test-history-")
        os.environ["MONEYPATH_HISTORY"] = folder
        atexit.register(shutil.rmtree, folder, True)


def pytest_configure(config):
    _spread_port_turns()
    _history_out_of_the_team_record()
    # On a fresh machine matplotlib builds its font cache on first import by running fc-list: do that
    # here, before the unit tier's no-process guard, instead of inside the first test that draws.
    try:
        import matplotlib.font_manager  # noqa: F401
    except ImportError:
        pass


def marked_exclusive(directory: Path = INTEGRATION_DIR, root: Path = ROOT) -> set[str]:
    """Node ids ("path::test", parameters left off) of the module-level tests whose source marks them `exclusive`,
    one by one or the whole module by its `pytestmark` (the files under EXCLUSIVE_DIRS are exclusive whole, marked at
    collection): pytest-xdist's controller schedules by node id before any worker has collected a marker."""
    found = set()
    for path in sorted(directory.rglob("test_*.py")):
        where = path.relative_to(root).as_posix()
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError):  # pytest reports the file's collection error itself, where it belongs
            continue
        whole = any(isinstance(node, ast.Assign) and "pytestmark" in ast.unparse(node.targets[0])
                    and "mark.exclusive" in ast.unparse(node.value) for node in tree.body)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test") and (
                    whole or any(ast.unparse(d).endswith("mark.exclusive") for d in node.decorator_list)):
                found.add(f"{where}::{node.name}")
    return found


@pytest.hookimpl(optionalhook=True)  # a venv without pytest-xdist (test_otel_newest.py's) loads this file too
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, but every `exclusive` test in one work unit (the files under EXCLUSIVE_DIRS, and the tests
    marked so elsewhere: the capacity runs): one worker runs them one after the other while the others run the rest.
    Spread a file per worker, they took turns on the exclusive lock below and the worker waiting held its next file
    too (setups of 120-164 s waiting in CI; the tier 27 min of 31); with the capacity runs left in their files, the
    lane and their worker still waited for each other (setups of 72-140 s)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    exclusive_dirs = tuple(f"{d.relative_to(ROOT).as_posix()}/" for d in EXCLUSIVE_DIRS)
    exclusive_tests = marked_exclusive()

    class ExclusiveTestsInOneLane(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(exclusive_dirs) or nodeid.split("[", 1)[0] in exclusive_tests:
                return "exclusive"
            return super()._split_scope(nodeid)

    return ExclusiveTestsInOneLane(config, log)


def pytest_collection_modifyitems(config, items):
    """The folder is the tier: every test under tests/integration is `integration` unless it is `timing`;
    `make test` runs tests/unit first (the unit tier) and stops there on a failure. A test under tests/unit
    marked for the second tier, or using a real server, stops the run: it belongs in tests/integration.

    Tests under tests/integration/e2e and tests/integration/drills are `exclusive` (see the lock below)."""
    misplaced = []
    for item in items:
        parents = Path(str(item.fspath)).parents
        if INTEGRATION_DIR in parents:
            if not item.get_closest_marker("timing"):
                item.add_marker(pytest.mark.integration)
            if any(d in parents for d in EXCLUSIVE_DIRS):
                item.add_marker(pytest.mark.exclusive)
        elif UNIT_DIR in parents and (any(item.get_closest_marker(m) for m in SECOND_TIER)
                                      or PROCESS_FIXTURES & set(item.fixturenames)):
            misplaced.append(item.nodeid)
    if misplaced:
        raise pytest.UsageError("second-tier tests under tests/unit, move them to tests/integration: "
                                + ", ".join(misplaced))


@pytest.fixture(autouse=True)
def _take_turns_on_the_machine(request, tmp_path_factory):
    """`make test` runs the integration tier on several workers (pytest-xdist, a module per worker). An
    `exclusive` test (a drill judged by the clock, a capacity run that saturates the cores) holds a lock the
    workers share, so two of them never run together: a drill beside a saturation probe pages on its latency. An
    `alone` test runs beside no test at all: the overload-spike drill holds its service at 3x capacity and judges
    the admitted p99, and another worker's test beside it takes CPU it is judged on (admitted p99 1.41 and
    1.62 s in two full CI runs, the second on a VM a third as fast). Alone is necessary, not enough: on that VM
    it also failed alone now and then (tests/integration/e2e/test_drills_e2e.py).
    (pytest-xdist's own grouping, --dist loadgroup, does not work with pytest 9.2: it renames node ids
    through an attribute pytest no longer reads; pytest_xdist_make_scheduler above groups the exclusive tests instead.)"""
    second_tier = request.node.get_closest_marker("integration") or request.node.get_closest_marker("timing")
    if not second_tier or "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    run_dir = tmp_path_factory.getbasetemp().parent  # the run's directory, above each worker's
    with open(run_dir / "exclusive.lock", "a") as exclusive, open(run_dir / "alone.lock", "a") as alone:
        if request.node.get_closest_marker("exclusive"):
            fcntl.flock(exclusive, fcntl.LOCK_EX)
        # An `alone` test has the machine to itself: every other integration test holds this lock shared. Always
        # taken after the exclusive one, so two workers never wait on each other in a circle.
        fcntl.flock(alone, fcntl.LOCK_EX if request.node.get_closest_marker("alone") else fcntl.LOCK_SH)
        yield


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """A unit test that starts a process (a server, `python -m`) fails: move it to tests/integration. In the
    unit tier promtool passes every PromQL it is given (our own checks still run); the integration tier runs
    the real one, and tests of what promtool reports live there."""
    if request.node.get_closest_marker("integration"):
        return

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} starts a process: move it to tests/integration")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
    monkeypatch.setattr("moneypath.check.promql.promtool_check_rules", lambda path, *options, cwd=None: (True, ""))


@pytest.fixture(scope="session")
def catalog():
    return load_catalog(CATALOG_PATH)


FOREIGN_PATH = ROOT / "tests" / "foreign" / "moneypath.yaml"


@pytest.fixture(scope="session")
def foreign():
    """A ticket shop's catalog (tests/foreign): komoju and knet, JPY (no minor unit) and KWD (three decimals),
    the optional domains off."""
    return load_catalog(FOREIGN_PATH)


@pytest.fixture
def mp(catalog):
    return MoneyPath(catalog, PrometheusBackend(CollectorRegistry()))


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL server on 127.0.0.1 for the session (moneypath.stack.pgserver); skips if none can run."""
    from moneypath.stack import pgserver

    try:
        with pgserver.running_server(free_port) as server:
            yield server
    except pgserver.Unavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")


@pytest.fixture
def pg_url(pg_server):
    """URL of a fresh, empty database on the session's server, dropped after the test."""
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`moneypath ARGS` in this process (the unit tier starts no process): exit code and the exact
    stdout and stderr, as a subprocess run would give them."""
    import contextlib
    import io
    import os

    from moneypath import cli

    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exc:  # argparse: usage errors and --help
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["moneypath", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture
def ref_db(tmp_path):
    """A SQLite file with the reference service's schema: the reference project's own database."""
    from sqlalchemy import create_engine

    from moneypath.reference.refservice.db import metadata

    path = tmp_path / "ledger.db"
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    return f"sqlite:///{path}"


# The ticket shop's project as its team makes it (`moneypath init`); tests/foreign/harness.py runs the same.
SHOP_INIT_ARGS = ("--service", "shop", "--providers", "komoju,knet", "--currencies", "JPY,KWD", "--features",
                  "cost,idempotency", "--methods", "card,konbini", "--routes", "/charges,/charges/{charge_id}",
                  "--oncall", "shop-oncall")


@pytest.fixture(scope="module")
def shop_project(tmp_path_factory):
    """The ticket shop's project as `moneypath init` writes it, with its drills (in process: no stack)."""
    import shutil

    from moneypath import cli

    root = tmp_path_factory.mktemp("shop") / "ops"
    assert cli.main(["init", str(root), *SHOP_INIT_ARGS]) == 0
    shutil.copytree(ROOT / "tests" / "foreign" / "drills", root / "runbooks" / "drills", dirs_exist_ok=True)
    return root
