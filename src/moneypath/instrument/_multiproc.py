"""The multi-process directory under recycled workers: dead processes' files folded into archives.

prometheus-client's multiprocess mode gives each process its own `<type>_<id>.db` files and sums them at
collection. Workers recycled by gunicorn `--max-requests`, `uvicorn --limit-max-requests` or Celery's
`--max-tasks-per-child` leave theirs behind. Here, the process that collects first (under an exclusive
lock on the directory) folds the files of dead processes into one archive per type and gauge mode
(counters, histograms and summaries summed, `sum`/`max`/`min`/`mostrecent` gauges merged by their mode),
deletes their `live*` gauges, then deletes the files. Collections read under a shared lock, so a scrape never
sees a file both on its own and in an archive. Recording takes no lock.

A process is named by its PID and its start time (`<pid>-<ticks>` from /proc), so a worker that gets a dead
one's PID opens files of its own. A run is the life of its anchor: the process that prepared the directory
(gunicorn's `on_starting`, Celery's main process); when nobody did, the first recording process's supervisor
(a parent holding the listening socket it accepts on, or that started it with multiprocessing: uvicorn's, or
gunicorn's without the hook), else that process itself (a single-process server, whose parent, a shell, systemd
or a test runner, outlives its restarts and supervises nothing). A process joins a live run only when its anchor
is its own: the one prepared, itself, or its supervisor. Otherwise it starts a run: files of dead processes are
deleted, never counted, whatever their parent was.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
from collections import defaultdict
from contextlib import contextmanager

from moneypath.instrument import _procfs

LOCK_NAME = ".moneypath.lock"
RUN_NAME = ".moneypath-run"
JOURNAL_NAME = ".moneypath-compact.json"
ARCHIVE = "archive"
_NEW = ".new"
_HAVE_PROC = os.path.isdir("/proc/self")
# How a gauge mode folds values of dead processes; `live*` gauges are deleted, `all` (one series per
# process, dead or alive, by prometheus-client's definition) is left alone.
_FOLD = {"sum": "sum", "max": "max", "min": "min", "mostrecent": "mostrecent"}


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot; None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
    except OSError:
        return None
    return None if fields[0] == b"Z" else fields[19].decode()


def ident_of(pid: int) -> str:
    """`<pid>-<start ticks>` (never reused), or the bare PID where there is no /proc."""
    ticks = _start_ticks(pid) if _HAVE_PROC else None
    return f"{pid}-{ticks}" if ticks is not None else str(pid)


_current = (0, "")


def current_ident() -> str:
    """This process's identifier; cheap (prometheus-client asks on every write to notice a fork)."""
    global _current
    pid = os.getpid()
    if _current[0] != pid:
        _current = (pid, ident_of(pid))
    return _current[1]


def alive(ident: str) -> bool:
    pid_text, _, ticks = ident.partition("-")
    try:
        pid = int(pid_text)
    except ValueError:
        return True  # not a process's file: leave it alone
    if ticks:
        return _start_ticks(pid) == ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _HAVE_PROC or _start_ticks(pid) is not None


def install_process_identifier() -> None:
    """Name this process's files `<type>_<pid>-<ticks>.db` from now on (metrics created earlier keep theirs)."""
    from prometheus_client import values

    if getattr(values.ValueClass, "_multiprocess", False) and not getattr(values.ValueClass, "_moneypath", False):
        cls = values.MultiProcessValue(process_identifier=current_ident)
        cls._moneypath = True
        values.ValueClass = cls


@contextmanager
def locked(path: str, exclusive: bool):
    """flock on the directory's lock file; one descriptor per holder, so threads exclude each other too."""
    fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _parse(name: str) -> tuple[str, str] | None:
    """(prefix, ident) of `<prefix>_<ident>.db`: prefix `counter` or `gauge_livemax`, ident a process or archive."""
    if not name.endswith(".db"):
        return None
    prefix, _, ident = name[:-3].rpartition("_")
    return (prefix, ident) if prefix else None


def process_files(path: str) -> list[tuple[str, str, str]]:
    """(file name, prefix, ident) of every process's file (archives left out)."""
    found = []
    for name in os.listdir(path):
        parsed = _parse(name)
        if parsed and parsed[1] != ARCHIVE:
            found.append((name, *parsed))
    return found


def dead_idents(path: str) -> set[str]:
    idents = {ident for _, _, ident in process_files(path)}
    return {ident for ident in idents if not alive(ident)}


def _fold(prefix: str) -> str | None:
    kind, _, mode = prefix.partition("_")
    if kind in ("counter", "histogram", "summary"):
        return "sum"
    return _FOLD.get(mode) if kind == "gauge" else None


def _merge(fold: str, files: list[str]) -> dict[str, tuple[float, float]]:
    from prometheus_client.mmap_dict import MmapedDict

    merged: dict[str, tuple[float, float]] = {}
    for path in files:
        for key, value, stamp, _ in MmapedDict.read_all_values_from_file(path):
            if key not in merged:
                merged[key] = (value, stamp)
                continue
            old, old_stamp = merged[key]
            if fold == "sum":
                merged[key] = (old + value, max(old_stamp, stamp))
            elif (fold == "max" and value > old) or (fold == "min" and value < old) or (
                    fold == "mostrecent" and stamp > old_stamp):
                merged[key] = (value, stamp)
    return merged


def _write(target: str, merged: dict[str, tuple[float, float]]) -> None:
    from prometheus_client.mmap_dict import MmapedDict

    if os.path.exists(target):
        os.remove(target)
    store = MmapedDict(target)
    try:
        for key, (value, stamp) in merged.items():
            store.write_value(key, value, stamp)
    finally:
        store.close()


def _finish(path: str) -> None:
    """Roll a compaction interrupted by a crash forward (archives in place, folded files gone), or drop its
    half-written archives when it had not got as far as its journal."""
    journal = os.path.join(path, JOURNAL_NAME)
    if os.path.exists(journal):
        with open(journal) as f:
            plan = json.load(f)
        for name in plan["archives"]:
            if os.path.exists(os.path.join(path, name + _NEW)):
                os.replace(os.path.join(path, name + _NEW), os.path.join(path, name))
        for name in plan["remove"]:
            with _missing_ok():
                os.remove(os.path.join(path, name))
        os.remove(journal)
    for stray in glob.glob(os.path.join(path, "*.db" + _NEW)):
        os.remove(stray)


@contextmanager
def _missing_ok():
    try:
        yield
    except FileNotFoundError:
        pass


def compact(path: str) -> int:
    """Fold the files of dead processes into the archives and delete them; returns how many were removed."""
    with locked(path, exclusive=True):
        _finish(path)
        dead = dead_idents(path)
        groups: dict[str, list[str]] = defaultdict(list)
        remove = []
        for name, prefix, ident in process_files(path):
            if ident not in dead:
                continue
            if prefix.startswith("gauge_live"):
                remove.append(name)
            elif _fold(prefix) is not None:
                groups[prefix].append(name)
                remove.append(name)
        if not remove:
            return 0
        archives = []
        for prefix, names in groups.items():
            archive = f"{prefix}_{ARCHIVE}.db"
            sources = [os.path.join(path, n) for n in ([archive] if os.path.exists(os.path.join(path, archive))
                                                         else []) + names]
            _write(os.path.join(path, archive + _NEW), _merge(_fold(prefix), sources))
            archives.append(archive)
        journal = os.path.join(path, JOURNAL_NAME)
        with open(journal + _NEW, "w") as f:
            json.dump({"archives": archives, "remove": remove}, f)
        os.replace(journal + _NEW, journal)
        _finish(path)
        return len(remove)


PREPARED, SUPERVISOR, ITSELF = "prepared", "supervisor", "itself"  # how a run's anchor was chosen


def _read_run(path: str) -> tuple[str | None, str]:
    """(anchor, how it was chosen) of the directory's run; (None, "") when there is none."""
    try:
        with open(os.path.join(path, RUN_NAME)) as f:
            anchor, _, how = f.read().strip().partition(" ")
    except FileNotFoundError:
        return None, ""
    return anchor or None, how


def _new_run(path: str, anchor: str, how: str) -> None:
    """Delete what dead processes left (an earlier run's files are never counted) and name the run's anchor."""
    _finish(path)
    dead = dead_idents(path)
    for name, _, ident in process_files(path):
        if ident in dead:
            os.remove(os.path.join(path, name))
    for archive in glob.glob(os.path.join(path, f"*_{ARCHIVE}.db")):
        os.remove(archive)
    with open(os.path.join(path, RUN_NAME + _NEW), "w") as f:
        f.write(f"{anchor} {how}")
    os.replace(os.path.join(path, RUN_NAME + _NEW), os.path.join(path, RUN_NAME))


def start_run(path: str) -> str:
    """A new run anchored on this process (the supervisor): call before workers start."""
    os.makedirs(path, exist_ok=True)
    with locked(path, exclusive=True):
        _new_run(path, current_ident(), PREPARED)
    return path


def supervised() -> bool:
    """Whether this process's parent supervises it as a server's worker: the parent holds a listening socket this
    process holds (gunicorn's arbiter, uvicorn's and hypercorn's supervisors pass theirs on), or started it with
    multiprocessing. A shell, systemd or a test runner that started a single-process server does neither."""
    import multiprocessing

    parent = os.getppid()
    started_by = multiprocessing.parent_process()
    if started_by is not None and started_by.pid == parent:
        return True
    return _procfs.holds_my_listener(parent)


def join_run(path: str) -> None:
    """In each recording process: join the live run anchored on what prepared the directory, on this process or
    on its supervisor; else start a run anchored on its supervisor (a worker of a server that prepares nothing,
    such as uvicorn's) or, with none, on itself (a single-process server: its restart is a new run)."""
    os.makedirs(path, exist_ok=True)
    with locked(path, exclusive=True):
        anchor, how = _read_run(path)
        me, parent = current_ident(), ident_of(os.getppid())
        is_supervised = supervised()
        if anchor is not None and alive(anchor) and (
                how == PREPARED or anchor == me or (anchor == parent and is_supervised)):
            return
        if is_supervised:
            _new_run(path, parent, SUPERVISOR)
        else:
            _new_run(path, me, ITSELF)


def attach(path: str) -> None:
    """In a recording process, when prometheus-client runs in multiprocess mode: name its files by PID and
    start time, and join (or start) the directory's run."""
    from prometheus_client import values

    if getattr(values.ValueClass, "_multiprocess", False):
        install_process_identifier()
        join_run(path)


def drop_live_gauges(pid: int, path: str) -> None:
    """Delete a process's `live*` gauge files (its circuit states and the like stop counting at once)."""
    with locked(path, exclusive=True):
        for name, prefix, ident in process_files(path):
            if prefix.startswith("gauge_live") and ident.partition("-")[0] == str(pid):
                with _missing_ok():
                    os.remove(os.path.join(path, name))


def collector(path: str):
    """A MultiProcessCollector that compacts first (when a process died) and reads under the shared lock."""
    from prometheus_client.multiprocess import MultiProcessCollector

    class DirectoryCollector(MultiProcessCollector):
        def collect(self):
            if dead_idents(self._path) or os.path.exists(os.path.join(self._path, JOURNAL_NAME)):
                compact(self._path)
            with locked(self._path, exclusive=False):
                return list(self.merge(glob.glob(os.path.join(self._path, "*.db")), accumulate=True))

    return DirectoryCollector(None, path=path)
