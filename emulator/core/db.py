"""SQLAlchemy 2.x engine and sessions: one SQLite file (WAL, 64 KiB pages) holds the whole state."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, StaticPool

from . import pg_types  # noqa: F401  (String(n) unbounded on PostgreSQL, as on SQLite)

# 64 KiB pages roughly double blob write throughput over SQLite's 4 KiB default
# (measured: ~300 MB/s -> ~630 MB/s for 1 MiB chunk rows). Only takes effect before
# the first table is created, which is why it is set on every new connection.
PAGE_SIZE = 65536
# The write-ahead log stays small: a checkpoint every 64 pages (4 MiB at 64 KiB pages) and the
# file cut back to WAL_LIMIT after each, so it never holds the disk space that deletes and
# checkpoints need (unbounded, it grew to ~58 MiB on a 64 MiB disk and wedged every write).
WAL_CHECKPOINT_PAGES = 64
WAL_LIMIT = 4 << 20


class Base(DeclarativeBase):
    """Declarative base of every table. A table whose rows survive ``reset`` sets ``__keep_on_reset__``."""


def _is_memory(url: str) -> bool:
    u = make_url(url)
    return u.get_backend_name() == "sqlite" and (u.database in (None, "", ":memory:") or "mode=memory" in url)


def _sqlite(raw: PoolProxiedConnection) -> sqlite3.Connection:
    """The sqlite3 connection under a pooled one (an in-memory database is always one)."""
    conn = raw.driver_connection
    if not isinstance(conn, sqlite3.Connection):
        raise TypeError(f"not a sqlite3 connection: {conn!r}")
    return conn


class Database:
    """Engine plus a process-wide lock that serialises transactions.

    SQLite has one writer at a time anyway; serialising in-process avoids SQLITE_BUSY
    on read-to-write upgrades and lets an in-memory database share one connection.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.memory = _is_memory(url)
        backend = make_url(url).get_backend_name()
        if backend == "sqlite":
            if self.memory:
                self.engine: Engine = create_engine(
                    "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
                )
            else:
                database = make_url(url).database
                if database:
                    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
                self.engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(self.engine, "connect", self._sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True)
        self._lock = threading.RLock()

    def _sqlite_pragmas(self, dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        self.apply_pragmas(dbapi_conn)

    def apply_pragmas(self, dbapi_conn: DBAPIConnection) -> None:
        """The per-connection SQLite settings (again after a connection's database was replaced)."""
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA page_size={PAGE_SIZE}")
        # Debian's libsqlite3 is built with SQLITE_SECURE_DELETE: freeing a blob would
        # zero-fill every page it used (1 GiB: ~6 s and a 1 GiB WAL instead of 0.2 s).
        cur.execute("PRAGMA secure_delete=OFF")
        if not self.memory:
            cur.execute("PRAGMA journal_mode=WAL")
            # A test double need not survive a power cut; WAL keeps the file consistent
            # across a crash of the process. No fsync at checkpoints roughly doubles
            # sustained chunk-write throughput here.
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            cur.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    def create_schema(self) -> None:
        with self._lock:
            Base.metadata.create_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commits on success, rolls back on any exception."""
        with self._lock, Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def image(self) -> bytes:
        """The whole in-memory database as bytes (sqlite3 ``serialize``), for cheap copies."""
        if not self.memory:
            raise ValueError("only an in-memory database has an image")
        with self._lock:
            raw = self.engine.raw_connection()
            try:
                return _sqlite(raw).serialize()
            finally:
                raw.close()

    def load_image(self, image: bytes) -> None:
        """Replace the whole in-memory database by an :meth:`image` (sqlite3 ``deserialize``)."""
        if not self.memory:
            raise ValueError("only an in-memory database can load an image")
        with self._lock:
            raw = self.engine.raw_connection()
            try:
                conn = _sqlite(raw)
                conn.deserialize(image)
                conn.execute("PRAGMA foreign_keys=ON")
            finally:
                raw.close()

    def dispose(self) -> None:
        self.engine.dispose()
