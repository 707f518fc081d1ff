"""A real PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` in a temporary directory.

Debian's ``postgresql`` package (``.ci/run`` installs it when ``initdb`` is missing) provides
the binaries under ``/usr/lib/postgresql/<version>/bin``; they are found there or on PATH.
The server never skips: a missing PostgreSQL is an error, as CI installs it.

Stable API (other test code imports it; keep it unchanged):

- ``running_server() -> Iterator[PgServer]``: a context manager that starts a fresh server
  and stops and removes it on exit. Plain code (benchmarks, scripts) uses this.
- ``PgServer``: a running server.
  ``.url(database="postgres") -> str``: a ``postgresql+psycopg://`` URL of a database on it;
  ``.create_database(name=None) -> str``: creates a new empty database (a fresh unique name
  when ``name`` is None) and returns its ``postgresql+psycopg://`` URL;
  ``.drop_database(name)``; ``.execute(sql, database="postgres")`` runs one statement in
  autocommit; ``.port``, ``.host`` (127.0.0.1), ``.socket_dir``, ``.data_dir``, ``.user``.
- pytest fixtures (this module is a plugin: ``pytest_plugins = ["pg_server"]`` or import the
  fixtures): ``pg_server`` (session scope: one server per process, so one per xdist worker)
  and ``pg_url`` (function scope: the URL of a new database on it, dropped afterwards).
- ``shared_server() -> PgServer``: the process-wide server behind the ``pg_server`` fixture,
  started on first use and stopped at interpreter exit (for code outside fixtures).

How: the data directory, the log and the unix socket live in one temporary directory; the
server listens on 127.0.0.1 on a free port with ``trust`` authentication for the superuser
``postgres``. When the tests run as root (postgres refuses to), the temporary directory is
handed to the unprivileged user ``nobody`` and the binaries run under ``setpriv``. The
settings favour speed over durability (fsync, synchronous_commit and full-page writes off):
a test database need not survive a crash.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "postgres"
HOST = "127.0.0.1"
# Test-speed settings: nothing here needs to survive a crash of the machine.
SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "64MB",
    "max_locks_per_transaction": "256",
    "autovacuum": "off",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "lc_messages": "C",
}


def find_bin(name: str) -> str:
    """The path of a PostgreSQL server binary (``initdb``, ``pg_ctl``, ``postgres``): Debian
    keeps them under /usr/lib/postgresql/<version>/bin (newest version first), else PATH."""
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0,
        reverse=True,
    )
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} was not found (under /usr/lib/postgresql/*/bin or on PATH): "
            "install Debian's postgresql package (.ci/run does)"
        )
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class PgServer:
    """A PostgreSQL server running in its own temporary directory (see the module docstring)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pg-"))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root
        self.log_file = self.root / "server.log"
        self.host = HOST
        self.user = USER
        self.port = 0
        self._prefix: list[str] = []
        self._lock = threading.Lock()
        self._running = False
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._prefix = [
                shutil.which("setpriv") or "/usr/bin/setpriv",
                f"--reuid={nobody.pw_uid}",
                f"--regid={nobody.pw_gid}",
                "--clear-groups",
                "--",
            ]
        self.root.chmod(0o700)

    def _run(self, *args: str) -> None:
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "HOME": str(self.root)}
        env.pop("PGDATA", None)
        done = subprocess.run(
            [*self._prefix, *args], cwd=self.root, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}{log}")

    def start(self) -> PgServer:
        self._run(
            find_bin("initdb"),
            "-D", str(self.data_dir),
            "-U", USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )  # fmt: skip
        options = " ".join(f"-c {name}={value}" for name, value in SETTINGS.items())
        for attempt in range(5):
            self.port = _free_port()
            start_options = (
                f"{options} -c listen_addresses={HOST} -p {self.port} -c unix_socket_directories={self.socket_dir}"
            )
            try:
                self._run(
                    find_bin("pg_ctl"), "start", "-w", "-t", "60",
                    "-D", str(self.data_dir), "-l", str(self.log_file), "-o", start_options,
                )  # fmt: skip
            except RuntimeError:
                if attempt == 4:
                    raise
                continue
            break
        self._running = True
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are cut) and remove its directory."""
        with self._lock:
            if self._running:
                self._running = False
                with contextlib.suppress(RuntimeError):
                    self._run(find_bin("pg_ctl"), "stop", "-w", "-m", "immediate", "-D", str(self.data_dir))
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) of ``database`` on this server."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement in autocommit (CREATE/DROP DATABASE need it)."""
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=database, autocommit=True
        ) as connection:
            connection.execute(sql.encode())

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (a fresh name when ``name`` is None); its URL."""
        name = name or f"test_{uuid.uuid4().hex[:16]}"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 STRATEGY file_copy')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running_server() -> Iterator[PgServer]:
    """A fresh PostgreSQL server for the duration of the block; stopped and removed after."""
    server = PgServer()
    try:
        yield server.start()
    finally:
        server.stop()


_shared: PgServer | None = None
_shared_lock = threading.Lock()


def shared_server() -> PgServer:
    """This process's PostgreSQL server: started on first use, stopped at interpreter exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            server = PgServer()
            atexit.register(server.stop)
            _shared = server.start()
        return _shared


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server per test process (so one per xdist worker)."""
    server = shared_server()
    yield server
    server.stop()
    global _shared
    _shared = None


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of a new, empty database on the session's server; dropped after the test."""
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url.rsplit("/", 1)[1])
