"""A throwaway PostgreSQL server: initdb a cluster in a directory (a temp dir for the tests, the state
directory for `moneypath up --postgres`), serve it on 127.0.0.1 only, hand out fresh databases, stop it.

Binaries come from PATH, else from Debian's /usr/lib/postgresql/<major>/bin (newest major).
PostgreSQL refuses to run as root, so under euid 0 every server command runs as the
`postgres` system user (created by Debian's postgresql package) and the temp dir is theirs.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20

# fsync is OFF: the cluster lives for one test session or one local stack and is thrown away, so crash
# durability buys nothing, and a commit (or CREATE DATABASE) then never waits on a shared CI
# machine's disk. It changes no locking, isolation or constraint behaviour, which is what these
# tests exercise.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "log_min_messages": "warning",
}
# PostgreSQL's own defaults for what SERVER_SETTINGS turns off: a commit waits for its WAL flush, as in
# production (benchmarks/bench_pg_bookings.py measures what a commit holds up).
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


class Unavailable(Exception):
    """PostgreSQL cannot run here (binaries or the postgres user missing): skip, don't fail."""


def find_binaries() -> tuple[str, str]:
    """(initdb, pg_ctl) from the same installation."""
    initdb = shutil.which("initdb")
    if initdb is None:
        def major(path: str) -> int:
            m = re.search(r"/postgresql/(\d+)/bin/", path)
            return int(m.group(1)) if m else -1
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=major, reverse=True)
        initdb = next((c for c in candidates if os.access(c, os.X_OK)), None)
    if initdb is None:
        raise Unavailable("PostgreSQL server binaries not found (initdb not in PATH nor /usr/lib/postgresql/*/bin); "
                          "install Debian 'postgresql' (scripts/setup.sh does)")
    pg_ctl = Path(os.path.realpath(initdb)).with_name("pg_ctl")
    if not os.access(pg_ctl, os.X_OK):
        raise Unavailable(f"initdb found at {initdb} but no pg_ctl next to it ({pg_ctl})")
    return initdb, str(pg_ctl)


@dataclass
class PostgresServer:
    base: Path           # temp dir: data/, the unix socket, the server log
    port: int
    pg_ctl: str
    run_as: pwd.struct_passwd | None

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "postgres.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname} connect_timeout=5"

    def run(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        kwargs = {}
        if self.run_as is not None:
            kwargs = {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}
        # cwd: the server user may not be allowed into the caller's working directory.
        return subprocess.run(args, cwd=self.base, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False, **kwargs)

    def postmaster_pid(self) -> int:
        """The server's pid (a session leader: pg_ctl starts it with setsid, so its group stops with it)."""
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """pg_ctl stop -m fast; if that fails, kill the postmaster. Never raises."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            if self.run(self.pg_ctl, "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", str(STOP_TIMEOUT_S),
                        timeout=STOP_TIMEOUT_S + 5).returncode == 0:
                return
        except (OSError, subprocess.TimeoutExpired):
            pass
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)  # its backends notice the dead postmaster and exit
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                time.sleep(0.05)

    def create_database(self, name: str = "") -> str:
        import psycopg

        name = name or f"test_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def running_as_root() -> bool:
    """Whether the server would run as the `postgres` user (then its directory must be one that user can enter)."""
    return os.geteuid() == 0


def _server_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise Unavailable("running as root and there is no 'postgres' system user to run PostgreSQL as") from None


def start(port_factory: Callable[[], int], base: Path | None = None,
          overrides: dict[str, str] | None = None) -> PostgresServer:
    """initdb and start a cluster in `base` (default: a new temp dir), on a port from `port_factory`; returns once
    it accepts connections. Unavailable if PostgreSQL cannot run here; on any other failure it is stopped.
    `overrides` replace SERVER_SETTINGS (e.g. DURABLE)."""
    initdb, pg_ctl = find_binaries()
    run_as = _server_user()
    if base is None:
        # /tmp when switching users: the caller's TMPDIR may not be reachable by the server user.
        # Short path either way: a unix socket path is limited to ~107 bytes.
        base = Path(tempfile.mkdtemp(prefix="moneypath-pg-", dir="/tmp" if run_as else None))
    else:
        base.mkdir(parents=True, exist_ok=True)
    server = PostgresServer(base=base, port=0, pg_ctl=pg_ctl, run_as=run_as)
    try:
        if run_as is not None:
            os.chown(base, run_as.pw_uid, run_as.pw_gid)
        done = server.run(initdb, "-D", str(server.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                          "--no-locale", "--no-sync", "--no-instructions", timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}")
        for _attempt in range(3):  # the free port may be taken again before the server binds it
            server.port = port_factory()
            # TCP on loopback only: a socket path under a deep state directory would pass the ~107-byte limit.
            settings = {**SERVER_SETTINGS, **(overrides or {}), "port": str(server.port),
                        "unix_socket_directories": "''"}
            # postgresql.auto.conf wins over postgresql.conf; the file belongs to the server user.
            (server.data / "postgresql.auto.conf").write_text(
                "".join(f"{k} = {v}\n" for k, v in settings.items()))
            started = server.run(pg_ctl, "start", "-D", str(server.data), "-l", str(server.log), "-w",
                                 "-t", str(START_TIMEOUT_S), timeout=START_TIMEOUT_S + 10)
            if started.returncode == 0:
                break
            server.stop()
            if "Address already in use" not in server.log_tail():
                break
        else:
            started = None
        if started is None or started.returncode != 0:
            detail = started.stderr.strip() if started is not None else "port kept being taken"
            raise RuntimeError(f"PostgreSQL did not start within {START_TIMEOUT_S} s: {detail}\n{server.log_tail()}")
        _wait_accepting(server)
        return server
    except BaseException:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
        raise


def _wait_accepting(server: PostgresServer) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with psycopg.connect(server.conninfo()) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL on 127.0.0.1:{server.port} does not accept connections: {exc}\n"
                                   f"{server.log_tail()}") from exc
            time.sleep(0.1)


@contextlib.contextmanager
def running_server(port_factory: Callable[[], int], settings: dict[str, str] | None = None
                   ) -> Iterator[PostgresServer]:
    """Start a server (Unavailable if it cannot run here), yield it, always stop and delete it. `settings`
    override SERVER_SETTINGS (e.g. DURABLE)."""
    server = start(port_factory, overrides=settings)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.base, ignore_errors=True)
