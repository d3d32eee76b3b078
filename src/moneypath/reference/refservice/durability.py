"""Group commit for SQLite: bookings are durable before they are acknowledged, with one sync for many, off the
event loop.

The service's SQLite connections commit with synchronous=NORMAL: in WAL mode a commit is then atomic and
visible at once, and survives a process kill (the log is in the operating system's hands), but is not yet on
disk. Before an answer that acknowledges money goes out, `await GroupSync.sync()` waits until the write-ahead
log is synced: one `fdatasync` of the log in a thread covers every commit that returned before it started, so
the event loop never blocks on the disk. Why: docs/decisions/0005-group-commit-for-sqlite.md

Why this is as safe as synchronous=FULL for what the API acknowledges: a commit appends its frames (with their
commit marker and checksums) to the log before it returns; a sync that starts after that puts them on disk.
A checkpoint that copies the log into the database syncs the log before and the database after (SQLite does
that at synchronous=NORMAL too), so frames moved out of the log are durable there. If the log file was
replaced in between (the last connection closed, which checkpointed and removed it), the sync runs again on
the new one. PostgreSQL needs none of this: its commit waits for its own group-committed WAL flush.

Checkpoints: a commit that finds the log `LOG_PAGES_PER_CHECKPOINT` long runs one, on the event loop, and that one
restarts the log. `Checkpointer` copies the log beforehand in a thread, on a connection of its own (PASSIVE: it
neither waits for the writers nor holds them up), so the loop's checkpoint has little left to copy. The loop's
checkpoint must stay: SQLite restarts the log only at the next write after a checkpoint that copied all of it,
and under steady writes only the loop's own gets there (it runs right after its commit, before another write);
a background checkpoint alone never catches up, and the log grows without bound.
Why: docs/decisions/0006-sqlite-checkpoints-off-the-loop.md
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


class GroupSync:
    """`await sync()`: every commit that returned before the call is on disk when it returns."""

    def __init__(self, database_path: str):
        self.log_path = database_path + "-wal"
        self._fd: int | None = None
        self._waiting: list[asyncio.Future] = []
        self._flusher: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="group-sync")
        self.syncs = 0  # how many fdatasync calls (the benchmark and tests read it)

    async def sync(self) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._waiting.append(done)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            # Everyone waiting now committed before this sync starts: one sync covers them all. Who arrives
            # while it runs waits for the next one.
            batch, self._waiting = self._waiting, []
            try:
                await loop.run_in_executor(self._thread, self.sync_now)
            except Exception as exc:
                for done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for done in batch:
                if not done.done():
                    done.set_result(None)

    def sync_now(self) -> None:
        """Sync the log now, blocking (a thread's work: the checkpoint signer calls it before signing a head)."""
        for _ in range(3):
            fd = self._log_fd()
            if fd is None:
                return  # no log: everything was checkpointed into the database, which that synced
            os.fdatasync(fd)
            self.syncs += 1
            if self._same_file(fd):
                return
            self._close()  # the log was replaced while we synced the old one: sync the new one too
        raise OSError(f"{self.log_path} kept being replaced while syncing it")

    def _log_fd(self) -> int | None:
        if self._fd is not None and self._same_file(self._fd):
            return self._fd
        self._close()
        try:
            self._fd = os.open(self.log_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        # The log's directory entry must survive a power cut too (once per new log file).
        directory = os.open(os.path.dirname(os.path.abspath(self.log_path)), os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return self._fd

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.log_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._close()


# How often the checkpointer copies the log: the loop's own checkpoint then finds at most this long's writes left.
CHECKPOINT_EVERY_S = 0.1
# The log's length at which a commit checkpoints (the writers' wal_autocheckpoint): the loop's checkpoint syncs
# three times however little the checkpointer left it, so it should come rarely.
# Why 4,000 pages: docs/decisions/0006-sqlite-checkpoints-off-the-loop.md
LOG_PAGES_PER_CHECKPOINT = 4000


class Checkpointer:
    """`run_once()`, in a thread every fraction of a second: copy what the write-ahead log holds into the database
    (a PASSIVE checkpoint on a connection of its own, synchronous=NORMAL: the log is synced before the copy and the
    database after, as SQLite's own checkpoint does). Returns (frames in the log, frames of it copied so far); a
    checkpoint already running elsewhere makes it a no-op that returns None."""

    def __init__(self, database_path: str):
        self.database_path = database_path
        self._conn: sqlite3.Connection | None = None
        self.runs = 0  # checkpoints that ran (tests read it)

    def run_once(self) -> tuple[int, int] | None:
        if self._conn is None:
            # Never creates the database (mode=rw): the service's engine made it. Runs from whichever thread the
            # job gets, one run at a time.
            uri = Path(self.database_path).absolute().as_uri() + "?mode=rw"  # (as_uri escapes ? and #)
            self._conn = sqlite3.connect(uri, uri=True, timeout=0.1, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA synchronous=NORMAL")
        busy, log_frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if busy:
            return None
        self.runs += 1
        return log_frames, copied

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
